#!/usr/bin/env python3
"""The library exports exactly the API: every dynamic symbol is a soci_ name listed in
lib/libsoci.sym and declared with SOCI_API in include/soci/*.h, and the reverse. Its
SONAME is libsoci.so.1 and its file is named for the ABI: libsoci.so.1.MINOR.PATCH, MINOR
the newest version node of the map (LIBSOCI_1.MINOR).

Usage: check_exports.py LIBSOCI_SO SYMBOL_MAP INCLUDE_DIR
"""
import glob
import os
import re
import subprocess
import sys


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] != "A":  # "A" marks the version nodes themselves
            names.add(parts[2].split("@")[0])
    return names


def in_map(path):
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    return set(re.findall(r"^\s*(soci_\w+);", text, flags=re.M))


def declared(include_dir):
    names = set()
    for h in glob.glob(include_dir + "/soci/*.h"):
        text = re.sub(r"^\s*#.*$", "", open(h).read(), flags=re.M)  # not the macro's own definition
        for decl in re.findall(r"SOCI_API\s+([^;{]*?)\(", text, flags=re.S):
            names.add(re.findall(r"(\w+)\s*$", decl)[0])  # the name just before the first "("
    return names


def soname(lib):
    out = subprocess.run(["readelf", "-d", lib], check=True, capture_output=True, text=True).stdout
    found = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return found.group(1) if found else None


def file_name_problems(lib, symmap):
    problems = []
    name = soname(lib)
    if name != "libsoci.so.1":
        problems.append(f"SONAME is {name!r}, not libsoci.so.1")
    nodes = re.findall(r"^LIBSOCI_1\.(\d+)\s*\{", open(symmap).read(), flags=re.M)
    newest = max(int(n) for n in nodes)
    real = os.path.basename(os.path.realpath(lib))
    if not re.fullmatch(rf"libsoci\.so\.1\.{newest}\.\d+", real):
        problems.append(f"the library's file is {real}, not libsoci.so.1.{newest}.PATCH "
                        f"(LIBSOCI_1.{newest} is the newest node: abi_minor in lib/meson.build)")
    return problems


def main():
    lib, symmap, include_dir = sys.argv[1:4]
    exp, mapped, decl = exported(lib), in_map(symmap), declared(include_dir)
    problems = file_name_problems(lib, symmap)
    for name in sorted(exp):
        if not name.startswith("soci_"):
            problems.append(f"exported without the soci_ prefix: {name}")
    for what, a, b in (("exported but not in libsoci.sym", exp, mapped),
                       ("in libsoci.sym but not exported", mapped, exp),
                       ("exported but not declared with SOCI_API", exp, decl),
                       ("declared with SOCI_API but not exported", decl, exp)):
        for name in sorted(a - b):
            problems.append(f"{what}: {name}")
    for p in problems:
        print(p)
    print(f"{len(exp)} symbols exported; {0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
