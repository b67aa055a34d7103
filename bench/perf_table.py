#!/usr/bin/env python3
"""Every performance figure of libsoci in one table, each against a baseline measured in
the same run (docs/performance.md keeps the latest).

usage: bench/perf_table.py BUILD_DIR [MIB] [RTT_MS] [MBYTES_PER_S]     (as root)

BUILD_DIR is a release build with benchmarks (meson setup -Dbench=true
--buildtype=release). MIB MiB of /usr make the test layer (default 300, ~110 MiB
gzipped); the network between soci-mount and the loopback registry is a proxy adding
RTT_MS per request (default 20) and capping responses at MBYTES_PER_S (default 50).
Rows:
  span decoding     bench_span: every span of the layer decoded on its own (digest
                    checked), zlib and ISA-L, vs plain zlib inflating the whole layer;
  zTOC build        bench_build: the build on two threads vs gzip -dc and pigz -dc;
  start-up set      formats_bench (gzip + SOCI index): a cold soci-mount reading a
                    20-file start-up set vs a full pull (skopeo copy + tar -xzf);
  metadata walk     metadata_bench: find over a mount of 100,000 files vs over a local
                    extraction; soci-mount's memory per entry.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import formats_bench  # noqa: E402
import metadata_bench  # noqa: E402


def output_of(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def number(pattern, text):
    m = re.search(pattern, text)
    if m is None:
        raise SystemExit(f"no {pattern!r} in:\n{text}")
    return float(m.group(1))


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    build = os.path.abspath(sys.argv[1])
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rtt = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.02
    rate = int(float(sys.argv[4]) * 1e6) if len(sys.argv) > 4 else 50_000_000
    tool, mount_tool = f"{build}/examples/soci-index/soci-index", f"{build}/examples/soci-mount/soci-mount"
    layer = os.environ.get("BENCH_LAYER", f"/tmp/libsoci-bench-{mib}.tar.gz")
    if not os.path.exists(layer):
        subprocess.run([f"{HERE}/make_layer.sh", layer, str(mib)], check=True)

    span = output_of(f"{build}/bench/bench_span", layer)
    plain = number(r"plain zlib inflate, whole layer:\s+([\d.]+)", span)
    zlib_spans = number(r"spans, zlib \(digest checked\):\s+([\d.]+)", span)
    isal = re.search(r"spans, ISA-L \(digest checked\):\s+([\d.]+)", span)
    built = output_of(f"{build}/bench/bench_build", layer)
    gz = number(r"gzip -dc > /dev/null\s+([\d.]+) s", built)
    pigz = re.search(r"pigz -dc > /dev/null\s+([\d.]+) s", built)
    one = number(r"zTOC build, 1 thread\s+([\d.]+) s", built)
    two = number(r"zTOC build, 2 threads\s+([\d.]+) s", built)
    full, rows = formats_bench.measure(tool, mount_tool, mib, rtt, rate, only={"gzip + SOCI index"})
    _, _, seconds, fetched, requests = rows[0]
    meta = metadata_bench.measure(tool, mount_tool)

    mb = 2 ** 20
    layer_mib = os.path.getsize(layer) / mb
    out = ["| measured | baseline, same run | libsoci | ratio |", "| --- | --- | --- | --- |"]
    out.append(f"| span decoding, zlib: every span of a {layer_mib:.0f} MiB layer on its own, digest checked "
               f"| zlib inflating the whole layer: {plain:.0f} MB/s | {zlib_spans:.0f} MB/s "
               f"| **{zlib_spans / plain:.2f}×** |")
    if isal:
        v = float(isal.group(1))
        out.append(f"| span decoding, ISA-L | the same | {v:.0f} MB/s "
                   f"| **{v / plain:.2f}×** whole-layer zlib, {v / zlib_spans:.2f}× zlib spans |")
    pigz_text = f"; `pigz -dc`: {float(pigz.group(1)):.2f} s" if pigz else ""
    pigz_ratio = f", {two / float(pigz.group(1)):.2f}× pigz -dc" if pigz else ""
    out.append(f"| zTOC build of that layer, 4 MiB spans, two threads | `gzip -dc`: {gz:.2f} s{pigz_text}; one "
               f"thread: {one:.2f} s | {two:.2f} s | **{two / gz:.2f}×** gzip -dc{pigz_ratio}, {two / one:.2f}× "
               f"one thread |")
    out.append(f"| start-up set (20 files of one directory), cold soci-mount, gzip + SOCI index, "
               f"{rtt * 1000:.0f} ms and {rate / 1e6:.0f} MB/s per request | full pull (skopeo copy + tar -xzf): "
               f"{full[0]:.2f} s, {full[1] / mb:.1f} MiB | {seconds:.2f} s, {fetched / mb:.1f} MiB, {requests} "
               f"requests | **{full[0] / seconds:.1f}×** sooner, {full[1] / max(fetched, 1):.0f}× fewer bytes |")
    out.append(f"| `find` over {meta['entries']:,} entries (readdir + getattr), first walk | `find` over a local "
               f"extraction: {meta['local']:.2f} s | {meta['cold']:.2f} s (open {meta['open']:.2f} s; "
               f"{meta['stored']} spans fetched) | **{meta['cold'] / meta['local']:.1f}×** local |")
    out.append(f"| the same, second walk | the same | {meta['warm']:.2f} s | **{meta['warm'] / meta['local']:.1f}×** "
               f"local |")
    out.append(f"| soci-mount's memory per entry | a mount of 10 files: {meta['rss_small'] / mb:.1f} MiB | "
               f"{meta['rss'] / mb:.1f} MiB | {meta['per_entry']:.0f} bytes per entry |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
