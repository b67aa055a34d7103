#!/usr/bin/env python3
"""Start-up set read lazily from a registry, against pulling and unpacking the image.

usage: bench/remote_bench.py SOCI_INDEX [MIB] [RTT_MS] [MBYTES_PER_S]

A registry (Debian's docker-registry) runs on loopback behind a proxy that adds a fixed
delay to every request (a round trip) and caps each response's rate, so the figures
reflect a network. The image: about MIB MiB of this machine's /usr in one layer (umoci),
indexed with 4 MiB spans and pushed with soci-index. Then, in the same run:
  lazy: one `soci-index get-file` of 20 small files spread over the layer;
  full: `skopeo copy` of the image to a layout, then `tar -xzf` of its layer.
Bytes are counted by the proxy, time by the clock; both ratios are printed.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_image  # noqa: E402


def main():
    tool = os.path.abspath(sys.argv[1])
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rtt = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.02
    rate = int(float(sys.argv[4]) * 1e6) if len(sys.argv) > 4 else 50_000_000
    with bench_image.network(rtt, rate) as (work, reg, proxy):
        _, chosen, layer_bytes = bench_image.make_usr_image(work, tool, mib, f"{reg.host}/bench:1")
        sets = bench_image.startup_sets(chosen)
        image = f"{proxy.host}/bench:1"

        lazy = {}
        for name, startup in sets.items():
            proxy.bytes_served = proxy.requests = 0
            t0 = time.monotonic()
            bench_image.run(tool, "get-file", image, *startup)
            lazy[name] = (time.monotonic() - t0, proxy.bytes_served, proxy.requests)

        proxy.bytes_served = proxy.requests = 0
        t0 = time.monotonic()
        bench_image.full_pull(work, image)
        full_time, full_bytes, full_reqs = time.monotonic() - t0, proxy.bytes_served, proxy.requests
    print(f"image: one {layer_bytes / 2**20:.1f} MiB gzip layer ({mib} MiB of /usr); network: {rtt * 1000:.0f} ms "
          f"per request, {rate / 1e6:.0f} MB/s per response")
    print(f"{'full pull + unpack':<38} {full_time:6.2f} s {full_bytes / 2**20:8.2f} MiB {full_reqs:4} requests")
    for name, (t, b, n) in lazy.items():
        print(f"{'lazy, 20 files ' + name:<38} {t:6.2f} s {b / 2**20:8.2f} MiB {n:4} requests   "
              f"ratios full/lazy: time {full_time / t:.1f}x, bytes {full_bytes / b:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
