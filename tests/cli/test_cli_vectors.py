#!/usr/bin/env python3
"""soci-index ztoc info/list/get-file against every reference vector.

Usage: test_cli_vectors.py SOCI_INDEX   (vectors from $SOCI_VECTORS)
The expected values are the reference implementation's own read-back (span-N.json);
file contents are also checked against Python's tarfile extraction of the layer.
"""
import glob
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile



def run(tool, *args):
    return subprocess.run([tool, *args], capture_output=True)


def check_vector(tool, jf, failures):
    expect = json.load(open(jf))
    ztoc = jf[:-5] + ".ztoc"
    folder = os.path.dirname(jf)
    layer = os.path.join(folder, "layer.tar.gz")
    if not os.path.exists(layer):
        layer = os.path.join(folder, "layer.tar")
    name = os.path.relpath(ztoc, os.path.dirname(folder))

    p = run(tool, "ztoc", "info", "--json", ztoc)
    if p.returncode != 0:
        failures.append(f"{name}: info failed: {p.stderr.decode()}")
        return
    info = json.loads(p.stdout)
    keys = {"version", "build_tool_identifier", "compression_algorithm", "compressed_archive_size",
            "uncompressed_archive_size", "max_span_id", "span_digests", "checkpoints", "entries"}
    if set(info) != keys:
        failures.append(f"{name}: info keys {sorted(info)}")
    for k in keys - {"checkpoints", "entries"}:
        if info.get(k) != expect[k]:
            failures.append(f"{name}: info {k}: {info.get(k)!r} != {expect[k]!r}")
    want_cps = [{"in": c["in"], "out": c["out"], "bits": c["bits"]} for c in expect.get("checkpoints", [])]
    if info["checkpoints"] != want_cps:
        failures.append(f"{name}: checkpoints differ")
    if info["entries"] != len(expect["entries"]):
        failures.append(f"{name}: entry count {info['entries']}")

    p = run(tool, "ztoc", "list", "--json", ztoc)
    listed = json.loads(p.stdout) if p.returncode == 0 else None
    if listed != expect["entries"]:
        failures.append(f"{name}: list differs from the reference entries")

    # Independent extraction of the same layer.
    with tarfile.open(layer) as tf:
        members = {m.name: m for m in tf.getmembers()}
        for path, sha in expect["file_sha256"].items():
            p = run(tool, "ztoc", "get-file", "--stats", ztoc, layer, path)
            got = hashlib.sha256(p.stdout).hexdigest()
            if p.returncode != 0 or got != sha:
                failures.append(f"{name}: get-file {path}: rc={p.returncode} {p.stderr.decode()[:200]}")
                continue
            m = members.get(path) or members.get(path.lstrip("./"))
            if m is not None and m.isfile():
                if hashlib.sha256(tf.extractfile(m).read()).hexdigest() != got:
                    failures.append(f"{name}: get-file {path} differs from tarfile")
            stats = p.stderr.decode().strip().split()
            if [s.split("=")[0] for s in stats] != ["fetched", "requests", "spans"]:
                failures.append(f"{name}: --stats line {p.stderr!r}")


def check_errors(tool, vectors, failures):
    ztoc = os.path.join(vectors, "tiny-gzip6", "span-65536.ztoc")
    layer = os.path.join(vectors, "tiny-gzip6", "layer.tar.gz")
    cases = [
        (["ztoc", "info", "/nonexistent.ztoc"], "/nonexistent.ztoc"),
        (["ztoc", "info", layer], "layer.tar.gz"),              # not a zTOC
        (["ztoc", "get-file", ztoc, layer, "no/such/file"], "no/such/file"),
        (["ztoc", "get-file", ztoc, ztoc, "blob.bin"], "zTOC says"),  # wrong blob
        (["ztoc", "frobnicate"], "unknown command"),
    ]
    for args, needle in cases:
        p = run(tool, *args)
        err = p.stderr.decode()
        if p.returncode == 0 or needle not in err or err.count("\n") > 2 or not err.startswith("soci-index: "):
            failures.append(f"error case {args}: rc={p.returncode} stderr={err!r}")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.bin")
        p = run(tool, "ztoc", "get-file", "-o", out, ztoc, layer, "blob.bin")
        if p.returncode != 0 or os.path.getsize(out) != 20000:
            failures.append(f"get-file -o: rc={p.returncode} {p.stderr!r}")


def main():
    tool = sys.argv[1]
    vectors = os.environ.get("SOCI_VECTORS", "")
    if not os.path.isdir(vectors):
        print(f"reference vectors not found (SOCI_VECTORS={vectors!r}); they are carried in tests/data/vectors",
              file=sys.stderr)
        return 1
    passed = failed = 0
    for jf in sorted(glob.glob(os.path.join(vectors, "*", "span-*.json"))):
        failures = []
        check_vector(tool, jf, failures)
        print(("ok   " if not failures else "FAIL ") + os.path.relpath(jf, vectors))
        for f in failures:
            print("     " + f)
        passed, failed = (passed + 1, failed) if not failures else (passed, failed + 1)
    failures = []
    check_errors(tool, vectors, failures)
    print(("ok   " if not failures else "FAIL ") + "error messages")
    for f in failures:
        print("     " + f)
    passed, failed = (passed + 1, failed) if not failures else (passed, failed + 1)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
