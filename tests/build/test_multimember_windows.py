#!/usr/bin/env python3
"""Checkpoint windows of multi-member gzip layers, checked against Python's own inflate.

Environment: SOCI_LIBRARY (the libsoci.so.1 under test).

A checkpoint's window is the last 32 KiB of the whole uncompressed stream before its
`out`, zero-filled only before the stream's start: across gzip member boundaries it holds
the earlier members' bytes too, as the reference writes it (../shared/FORMAT.md, section
2). The layers here have 3 to 6 members, shorter and longer than 32 KiB, each cut at an
arbitrary point of one tar (not at entry boundaries) and compressed by Python's zlib with
a full flush every few KiB (so deflate blocks, where checkpoints may fall, come often) or
by GNU gzip and pigz. Span sizes put checkpoints just after a member's start (1 byte: a
checkpoint at every block boundary), at a member's first block, and far from any member
start. The zTOC is parsed here by a reader of its own (flatbuffer and checkpoint blob as
FORMAT.md describes them) and every window compared with the tar that Python's gzip module
inflates, on one thread and on two.
"""
import gzip
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
import soci  # noqa: E402

WINDOW = 32768
CHECKPOINT_SIZE = 8 + 8 + 1 + WINDOW


# --- a flatbuffer reader of our own: just what the zTOC's checkpoint blob needs -----------

def u32(buf, at):
    return struct.unpack_from("<I", buf, at)[0]


def table_field(buf, table, field_id):
    """The absolute position of a table's field, or None when absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vt_size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * field_id
    if slot >= vt_size:
        return None
    off = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + off if off else None


def indirect(buf, at):
    return at + u32(buf, at)


def checkpoints(ztoc):
    """[(in, out, bits, window)] from the zTOC's gzip checkpoint blob (version 2)."""
    root = indirect(ztoc, 0)
    info = indirect(ztoc, table_field(ztoc, root, 5))          # Ztoc.compression_info
    vec = indirect(ztoc, table_field(ztoc, info, 3))           # CompressionInfo.checkpoints
    blob = ztoc[vec + 4:vec + 4 + u32(ztoc, vec)]
    n = struct.unpack_from("<i", blob, 0)[0]
    if len(blob) != 12 + n * CHECKPOINT_SIZE:
        raise AssertionError(f"checkpoint blob of {len(blob)} bytes for {n} checkpoints")
    out = []
    for i in range(n):
        at = 12 + i * CHECKPOINT_SIZE
        cin, cout, bits = struct.unpack_from("<qqB", blob, at)
        out.append((cin, cout, bits, blob[at + 17:at + 17 + WINDOW]))
    return out


# --- layers ---------------------------------------------------------------------------------

def make_tar(rnd):
    words = b"member window checkpoint span deflate block tar gzip layer stream ".split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i in range(40):
            if i % 3 == 0:
                data = rnd.randbytes(rnd.randint(0, 30000))
            else:
                data = b" ".join(rnd.choice(words) for _ in range(rnd.randint(0, 12000)))
            ti = tarfile.TarInfo(f"d{i % 4}/f{i:02d}")
            ti.size, ti.mtime = len(data), 1700000000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def zlib_member(data, flush_every):
    """One gzip member with a full flush (a block boundary) every flush_every bytes."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = []
    for at in range(0, len(data), flush_every):
        out.append(c.compress(data[at:at + flush_every]))
        out.append(c.flush(zlib.Z_FULL_FLUSH))
    out.append(c.flush(zlib.Z_FINISH))
    return b"".join(out)


def tool_member(tool, data):
    return subprocess.run([tool, "-6", "-c", "-n"], input=data, stdout=subprocess.PIPE, check=True).stdout


def layers(rnd, tar):
    """(name, member sizes, compressor per member) of each test layer."""
    size = len(tar)
    return [
        # short members first: windows at the start of later members reach back across several
        ("short-then-long", [700, 5000, 20000, size - 25700], ["zlib:1024"] * 4),
        # members longer than a window, with one shorter between them
        ("long-short-long", [70000, 3000, 90000, 1500, 40000, size - 204500],
         ["zlib:4096", "zlib:512", "zlib:8192", "zlib:256", "zlib:2048", "zlib:4096"]),
        # three members made by the standard tools
        ("gzip-pigz", [33000, 31000, size - 64000], ["gzip", "pigz", "gzip"]),
        # an empty member in the middle changes nothing
        ("with-empty", [10000, 0, 25000, 12000, size - 47000], ["zlib:2048"] * 5),
    ]


def compress(tar, sizes, kinds):
    out, at = [], 0
    for size, kind in zip(sizes, kinds):
        piece = tar[at:at + size]
        at += size
        if kind.startswith("zlib:"):
            out.append(zlib_member(piece, int(kind[5:])))
        else:
            out.append(tool_member(kind, piece))
    assert at == len(tar)
    return b"".join(out), [sum(sizes[:i]) for i in range(len(sizes))]


def check_layer(name, path, tar, starts, spans, failures):
    checked = 0
    for span in spans:
        built = {}
        for threads in (1, 2):
            ztoc = soci.build_ztoc(path, span_size=span, threads=threads)
            built[threads] = ztoc
            for i, (cin, cout, bits, window) in enumerate(checkpoints(ztoc)):
                before = tar[max(0, cout - WINDOW):cout]
                want = bytes(WINDOW - len(before)) + before
                if window != want:
                    since = cout - max(s for s in starts if s <= cout)
                    failures.append(f"{name} span {span} threads {threads}: checkpoint {i} (out {cout}, "
                                    f"{since} bytes into its member) has the wrong window")
                checked += 1
        if built[1] != built[2]:
            failures.append(f"{name} span {span}: one thread and two give different zTOCs")
    return checked


def near_member_starts(path, starts):
    """How many checkpoints of a 1-byte-span zTOC lie less than 32 KiB into a later member."""
    cps = checkpoints(soci.build_ztoc(path, span_size=1))
    return sum(1 for _, out, _, _ in cps
               if any(0 < s <= out < s + WINDOW for s in starts[1:]))


def main():
    for tool in ("gzip", "pigz"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed (apt-get install {tool})", file=sys.stderr)
            return 1
    rnd = random.Random(16)
    tar = make_tar(rnd)
    failures, windows, layers_checked = [], 0, 0
    with tempfile.TemporaryDirectory() as work:
        for name, sizes, kinds in layers(rnd, tar):
            data, starts = compress(tar, sizes, kinds)
            assert gzip.decompress(data) == tar  # Python's inflate reads every member back
            path = os.path.join(work, name + ".tar.gz")
            with open(path, "wb") as f:
                f.write(data)
            if near_member_starts(path, starts) == 0:
                failures.append(f"{name}: no checkpoint falls early in a later member; the layer tests nothing")
            # 1: every block boundary; 3000: soon after most member starts; 30000: inside the
            # first window of long members; 200000: far from them
            before = len(failures)
            n = check_layer(name, path, tar, starts, [1, 3000, 30000, 200000], failures)
            print(("ok   " if len(failures) == before else "FAIL ") + f"{name}: {len(sizes)} members, {n} windows")
            windows += n
            layers_checked += 1
    for f in failures:
        print("     " + f)
    print(f"{windows} windows of {layers_checked} layers checked against Python's gzip")
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
