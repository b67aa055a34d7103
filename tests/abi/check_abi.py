#!/usr/bin/env python3
"""The library's ABI against the committed baseline (abi/libsoci.abi, libabigail):
abidiff must find no difference at all, removed, changed or added; and a version node
that has shipped (abi/released-nodes) must keep exactly the symbols it shipped with, so
new functions go in a new node. An intended change regenerates the baseline
(abi/update.sh) in the same commit.

usage: check_abi.py LIBRARY SOURCE_ROOT BUILD_INCLUDE_DIR
"""
import re
import shutil
import subprocess
import sys


def sym_nodes(path):
    nodes, node = {}, None
    for line in open(path):
        line = line.split("#")[0].strip()
        m = re.match(r"^(\w+)\s*\{", line)
        if m:
            node = m.group(1)
            nodes[node] = set()
        elif node and re.match(r"^soci_\w+;$", line):
            nodes[node].add(line[:-1])
    return nodes


def main():
    lib, root, build_include = sys.argv[1:4]
    if shutil.which("abidiff") is None:
        print("SKIP: abidiff missing (Debian's abigail-tools; ci/deps.sh installs it)")
        return 77
    baseline = f"{root}/abi/libsoci.abi"
    p = subprocess.run(["abidiff", "--hd2", f"{root}/include/soci", "--hd2", f"{build_include}/soci", baseline, lib],
                       capture_output=True, text=True)
    ok = True
    if p.returncode != 0:
        print(f"the ABI differs from abi/libsoci.abi (abidiff status {p.returncode}):\n{p.stdout}{p.stderr}")
        print("if this change is intended, run abi/update.sh and commit the new baseline with it (docs/abi.md)")
        ok = False
    shipped = {}
    for name, version in re.findall(r"<elf-symbol name='(\w+)' version='(\w+)'", open(baseline).read()):
        shipped.setdefault(version, set()).add(name)
    nodes = sym_nodes(f"{root}/lib/libsoci.sym")
    for node in open(f"{root}/abi/released-nodes").read().split():
        if nodes.get(node) != shipped.get(node):
            added = sorted(nodes.get(node, set()) - shipped.get(node, set()))
            removed = sorted(shipped.get(node, set()) - nodes.get(node, set()))
            print(f"released node {node} changed: added {added}, removed {removed}; "
                  "new functions go in a new version node")
            ok = False
    print("ABI identical to the baseline" if ok else "ABI check failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
