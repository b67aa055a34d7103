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
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "registry"))
import fault_proxy  # noqa: E402
import registry_fixture  # noqa: E402


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, **kw)


def main():
    tool = os.path.abspath(sys.argv[1])
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rtt = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.02
    rate = int(float(sys.argv[4]) * 1e6) if len(sys.argv) > 4 else 50_000_000
    with tempfile.TemporaryDirectory() as work:
        reg = registry_fixture.Registry(work)
        proxy = fault_proxy.FaultProxy(reg.port, delay=rtt, rate=rate)
        try:
            layout, bundle = f"{work}/layout", f"{work}/bundle"
            run("umoci", "init", "--layout", layout)
            run("umoci", "new", "--image", f"{layout}:img")
            run("umoci", "unpack", "--image", f"{layout}:img", bundle)
            files = subprocess.run(["find", "/usr", "-xdev", "-type", "f", "-size", "-20M", "-printf", "%s %p\\n"],
                                   capture_output=True, text=True).stdout.splitlines()
            files.sort(key=lambda l: l.split(" ", 1)[1])
            chosen, total = [], 0
            for line in files:
                size, path = line.split(" ", 1)
                if total + int(size) > mib << 20:
                    break
                total += int(size)
                chosen.append(path)
            with open(f"{work}/list", "w") as f:
                f.write("\n".join(chosen) + "\n")
            subprocess.run(f"tar -cf - --files-from={work}/list 2>/dev/null | tar -xf - -C {bundle}/rootfs",
                           shell=True, check=True)
            run("umoci", "repack", "--image", f"{layout}:img", bundle)
            run(tool, "create", f"{layout}:img")
            run(tool, "push", f"{layout}:img", f"{reg.host}/bench:1")
            layer_bytes = sum(os.path.getsize(f"{layout}/blobs/sha256/{b}") for b in os.listdir(f"{layout}/blobs/sha256")
                              if os.path.getsize(f"{layout}/blobs/sha256/{b}") > 10 << 20)

            rnd = random.Random(1)
            small = [p.lstrip("/") for p in chosen if 1000 < os.path.getsize(p) < 100000]
            # Two start-up sets: 20 files of one directory, as a program's start-up reads
            # its own modules (they sit together in the tar), and 20 spread at random over
            # the whole layer, the worst case for span-sized fetches.
            by_dir = {}
            for p in small:
                by_dir.setdefault(os.path.dirname(p), []).append(p)
            biggest = max(by_dir.values(), key=len)
            sets = {"clustered (one directory)": sorted(biggest)[:20], "spread over the layer": sorted(rnd.sample(small, 20))}
            image = f"{proxy.host}/bench:1"

            lazy = {}
            for name, startup in sets.items():
                proxy.bytes_served = proxy.requests = 0
                t0 = time.monotonic()
                run(tool, "get-file", image, *startup)
                lazy[name] = (time.monotonic() - t0, proxy.bytes_served, proxy.requests)

            proxy.bytes_served = proxy.requests = 0
            t0 = time.monotonic()
            run("skopeo", "copy", "--src-tls-verify=false", f"docker://{image}", f"oci:{work}/pulled:img")
            os.makedirs(f"{work}/unpacked")
            for b in os.listdir(f"{work}/pulled/blobs/sha256"):
                p = f"{work}/pulled/blobs/sha256/{b}"
                if os.path.getsize(p) > 10 << 20:
                    run("tar", "-xzf", p, "-C", f"{work}/unpacked")
            full_time, full_bytes, full_reqs = time.monotonic() - t0, proxy.bytes_served, proxy.requests
        finally:
            proxy.stop()
            reg.stop()
    print(f"image: one {layer_bytes / 2**20:.1f} MiB gzip layer ({mib} MiB of /usr); network: {rtt * 1000:.0f} ms "
          f"per request, {rate / 1e6:.0f} MB/s per response")
    print(f"{'full pull + unpack':<38} {full_time:6.2f} s {full_bytes / 2**20:8.2f} MiB {full_reqs:4} requests")
    for name, (t, b, n) in lazy.items():
        print(f"{'lazy, 20 files ' + name:<38} {t:6.2f} s {b / 2**20:8.2f} MiB {n:4} requests   "
              f"ratios full/lazy: time {full_time / t:.1f}x, bytes {full_bytes / b:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
