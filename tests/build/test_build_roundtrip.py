#!/usr/bin/env python3
"""Build zTOCs of layers made by standard tools, then read every file back through them.

Usage: test_build_roundtrip.py SOCI_INDEX

Layers come from GNU tar (gnu and posix formats) with gzip and pigz, Python's tarfile
with Python's gzip, a multi-member gzip of one tar, an uncompressed tar and umoci. Each
is indexed at span sizes from 1 byte (a checkpoint at every deflate block) up to the
default, and every entry and every regular file's bytes are compared with Python's
tarfile reading the same layer: an independent reader, not libsoci's output.
"""
import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile

SPAN_SIZES = [1, 65536, 1 << 20, 4 << 20]


def make_tree(root):
    rnd = random.Random(42)
    words = b"layer span index container image registry lazy fetch gzip window checkpoint tar ".split()
    os.makedirs(f"{root}/usr/share/doc", exist_ok=True)
    os.makedirs(f"{root}/etc/deep/" + "d" * 90 + "/" + "e" * 90, exist_ok=True)
    for i in range(120):
        kind = rnd.random()
        if kind < 0.5:
            data = b" ".join(rnd.choice(words) for _ in range(rnd.randint(0, 20000)))
        elif kind < 0.9:
            data = rnd.randbytes(rnd.randint(0, 150000))
        else:
            data = b""
        with open(f"{root}/usr/share/doc/f{i:03d}", "wb") as f:
            f.write(data)
    with open(f"{root}/usr/big.bin", "wb") as f:  # several spans at 1 MiB
        f.write(rnd.randbytes(3 << 20) + b"\n".join(rnd.choice(words) for _ in range(600000)))
    with open(f"{root}/etc/deep/" + "d" * 90 + "/" + "e" * 90 + "/" + "f" * 120, "w") as f:
        f.write("long path\n")
    with open(f"{root}/etc/h\u00e9llo-\u4e16\u754c", "w") as f:
        f.write("unicode\n")
    os.symlink("../usr/big.bin", f"{root}/etc/link")
    os.symlink("/" + "t" * 150, f"{root}/etc/longlink")
    os.link(f"{root}/usr/big.bin", f"{root}/usr/hard.bin")
    os.mkfifo(f"{root}/etc/fifo")
    os.chmod(f"{root}/usr/share/doc/f001", 0o4755)
    os.utime(f"{root}/usr/share/doc/f002", ns=(1700000000_123456789, 1700000000_123456789))
    try:
        os.mknod(f"{root}/etc/null", 0o666 | 0o020000, os.makedev(1, 3))
    except PermissionError:
        pass


def gnu_tar(src, out, fmt):
    subprocess.run(["tar", f"--format={fmt}", "--sort=name", "-C", src, "-cf", out, "."], check=True)


def python_tar(src, out):
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        tf.add(src, arcname=".")


def umoci_layer(src, workdir):
    """The layer umoci writes when a rootfs is unpacked, changed and repacked."""
    if shutil.which("umoci") is None:
        return None
    layout, bundle = f"{workdir}/layout", f"{workdir}/bundle"
    subprocess.run(["umoci", "init", "--layout", layout], check=True)
    subprocess.run(["umoci", "new", "--image", f"{layout}:t"], check=True)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:t", bundle], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cp", "-a", src, f"{bundle}/rootfs/data"], check=True)  # keeps fifos, devices, links
    subprocess.run(["umoci", "repack", "--image", f"{layout}:t", bundle], check=True, stdout=subprocess.DEVNULL)
    index = json.load(open(f"{layout}/index.json"))
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.load(open(f"{layout}/blobs/sha256/{digest}"))
    return f"{layout}/blobs/sha256/" + manifest["layers"][-1]["digest"].split(":")[1]


def make_layers(src, work):
    layers = {}
    gnu_tar(src, f"{work}/gnu.tar", "gnu")
    gnu_tar(src, f"{work}/posix.tar", "posix")
    python_tar(src, f"{work}/python.tar")
    subprocess.run(f"gzip -6 -c {work}/gnu.tar > {work}/gnu.tar.gz", shell=True, check=True)
    layers["tar+gzip (gnu format)"] = f"{work}/gnu.tar.gz"
    subprocess.run(f"pigz -c {work}/posix.tar > {work}/posix.tar.pigz", shell=True, check=True)
    layers["tar+pigz (posix format)"] = f"{work}/posix.tar.pigz"
    with open(f"{work}/python.tar", "rb") as f, gzip.open(f"{work}/python.tar.gz", "wb", compresslevel=9) as g:
        shutil.copyfileobj(f, g)
    layers["python tarfile+gzip"] = f"{work}/python.tar.gz"
    data = open(f"{work}/gnu.tar", "rb").read()
    cuts = [0, len(data) // 3 + 7, 2 * len(data) // 3 + 300, len(data)]
    with open(f"{work}/multi.tar.gz", "wb") as f:
        for a, b in zip(cuts, cuts[1:]):
            f.write(gzip.compress(data[a:b], mtime=0))
    layers["multi-member gzip"] = f"{work}/multi.tar.gz"
    layers["uncompressed tar"] = f"{work}/posix.tar"
    um = umoci_layer(src, work)
    if um:
        layers["umoci"] = um
    return layers


TYPES = {tarfile.REGTYPE: "reg", tarfile.AREGTYPE: "reg", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
         tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


def expected(layer):
    """Entries and file hashes of the layer, read by Python's tarfile."""
    entries, hashes = [], {}
    with tarfile.open(layer) as tf:
        for m in tf.getmembers():
            entries.append(m)
            if m.isfile():
                hashes[m.name] = hashlib.sha256(tf.extractfile(m).read()).hexdigest()
            elif m.islnk():
                hashes[m.name] = hashlib.sha256(tf.extractfile(m).read()).hexdigest()
    return entries, hashes


def mtime_of(mod_time):
    from datetime import datetime
    whole, _, frac = mod_time.rstrip("Z").partition(".")
    t = datetime.fromisoformat(whole + "+00:00").timestamp()
    return t, int((frac + "000000000")[:9]) if frac else 0


def check(tool, name, layer, span, want_entries, want_hashes, work):
    problems = []
    ztoc = f"{work}/out.ztoc"
    p = subprocess.run([tool, "ztoc", "create", "--span-size", str(span), layer, "-o", ztoc], capture_output=True)
    if p.returncode:
        return [f"create failed: {p.stderr.decode().strip()}"]
    info = json.loads(subprocess.run([tool, "ztoc", "info", "--json", ztoc], capture_output=True, check=True).stdout)
    if info["compressed_archive_size"] != os.path.getsize(layer):
        problems.append("compressed size differs from the layer size")
    if span == 1 and info["compression_algorithm"] == "gzip" and info["max_span_id"] < 20:
        problems.append(f"span size 1 gave only {info['max_span_id'] + 1} spans")
    listed = json.loads(subprocess.run([tool, "ztoc", "list", "--json", ztoc], capture_output=True, check=True).stdout)
    if len(listed) != len(want_entries):
        problems.append(f"{len(listed)} entries, tarfile sees {len(want_entries)}")
    for got, m in zip(listed, want_entries):
        where = f"entry {m.name!r}"
        if got["name"].rstrip("/") != m.name:
            problems.append(f"{where}: name {got['name']!r}")
            continue
        if got["type"] != TYPES.get(m.type):
            problems.append(f"{where}: type {got['type']}")
        if m.isfile() and (got["uncompressed_offset"] != m.offset_data or got["uncompressed_size"] != m.size):
            problems.append(f"{where}: data at {got['uncompressed_offset']}+{got['uncompressed_size']}, "
                            f"tarfile says {m.offset_data}+{m.size}")
        for key, want in (("mode", m.mode), ("uid", m.uid), ("gid", m.gid), ("uname", m.uname),
                          ("gname", m.gname), ("linkname", m.linkname)):
            if got[key] != want:
                problems.append(f"{where}: {key} {got[key]!r}, tarfile says {want!r}")
        if m.ischr() or m.isblk():
            if (got["devmajor"], got["devminor"]) != (m.devmajor, m.devminor):
                problems.append(f"{where}: device numbers")
        sec, nsec = mtime_of(got["mod_time"])
        if abs(sec + nsec / 1e9 - m.mtime) > 1e-6:
            problems.append(f"{where}: mod_time {got['mod_time']} vs {m.mtime}")
    p = subprocess.run([tool, "ztoc", "checksum", ztoc, layer], capture_output=True)
    if p.returncode:
        return problems + [f"checksum failed: {p.stderr.decode().strip()}"]
    got_hashes = {}
    for line in p.stdout.decode().splitlines():
        digest, path = line.split("  ", 1)
        got_hashes[path] = digest
    if got_hashes != want_hashes:
        diff = sorted(set(got_hashes.items()) ^ set(want_hashes.items()))[:3]
        problems.append(f"file contents differ from tarfile: {diff}")
    return problems


def main():
    tool = os.path.abspath(sys.argv[1])
    passed = failed = 0
    with tempfile.TemporaryDirectory() as work:
        src = f"{work}/src"
        make_tree(src)
        for name, layer in make_layers(src, work).items():
            want_entries, want_hashes = expected(layer)
            for span in SPAN_SIZES:
                if span < 4096 and "uncompressed" in name:
                    span = 4096  # no deflate blocks to fall between; 1-byte slices only bloat the zTOC
                problems = check(tool, name, layer, span, want_entries, want_hashes, work)
                print(("ok   " if not problems else "FAIL ") + f"{name}, span size {span}")
                for p in problems[:10]:
                    print("     " + p)
                passed, failed = (passed + 1, failed) if not problems else (passed, failed + 1)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
