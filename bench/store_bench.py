#!/usr/bin/env python3
"""Container start-up with a real engine: `podman run IMAGE CMD`, image not on the machine
and the page cache dropped, timed from the command's start to the first line CMD prints,
three ways in the same run, over the same link:

  normal pull   podman alone: pulls and unpacks every layer, then runs CMD
  soci-store    podman with soci-store as its additional layer store (an empty cache):
                the indexed layers are read span by span as CMD needs them
  soci-mount    libsoci's own path without the engine: soci-mount, then chroot CMD

The image is built from Debian packages (debootstrap: python3 with numpy, perl, gcc; its
root folder is kept in /var/tmp/libsoci-bench for the next run), one gzip layer, indexed
with soci-index's defaults and pushed to a loopback registry. CMD imports a dozen
standard modules and numpy and prints. The link is bench/shaping_proxy.py in front of the
registry: 20 ms per request and 50 MB/s per connection, then plain loopback (the same
proxy, unshaped). The proxy's cost is calibrated and printed (a 1-byte range request).
Bytes and requests are what the proxy served for each start.

A fourth figure is podman's own cost: the same run of an image it already has, caches
warm. Environment: SPAN_SIZE (the index's span size), STORE_ARGS (soci-store options).

Usage (root): store_bench.py SOCI_INDEX SOCI_STORE SOCI_MOUNT [ROUNDS]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "registry"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "store"))
import engine_fixture  # noqa: E402
import registry_fixture  # noqa: E402
import shaping_proxy  # noqa: E402

PACKAGES = "python3,python3-numpy,perl,gcc,libpython3-dev"
ROOTFS_CACHE = "/var/tmp/libsoci-bench"
MODULES = "json, re, csv, decimal, fractions, statistics, email.parser, http.client, xml.dom.minidom, " \
          "sqlite3, asyncio, argparse, numpy"
CMD = ["python3", "-c", f"import {MODULES}; print('started', numpy.__version__, flush=True)"]
STORE_ARGS = os.environ.get("STORE_ARGS", "").split()  # extra soci-store options
SPAN_SIZE = os.environ.get("SPAN_SIZE")  # soci-index create --span-size (default: its own, 4 MiB)
LINKS = [("20 ms per request, 50 MB/s per connection", 0.020, 50_000_000), ("loopback", 0.0, 0)]


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, **kw)


def rootfs():
    """The debootstrapped root folder (made once, then reused)."""
    path = f"{ROOTFS_CACHE}/rootfs-{PACKAGES.replace(',', '_')}"
    if not os.path.isdir(f"{path}/usr/bin"):
        os.makedirs(ROOTFS_CACHE, exist_ok=True)
        shutil.rmtree(path, ignore_errors=True)
        print(f"debootstrap bookworm with {PACKAGES} (once, kept in {ROOTFS_CACHE})", flush=True)
        sh("debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", path,
           "http://deb.debian.org/debian")
    # As image builds do: the downloaded packages are not part of the image.
    sh("find", f"{path}/var/cache/apt/archives", "-name", "*.deb", "-delete")
    return path


def build_image(work, tool, root, dest):
    layout, bundle = f"{work}/layout", f"{work}/bundle"
    sh("umoci", "init", "--layout", layout)
    sh("umoci", "new", "--image", f"{layout}:img")
    sh("umoci", "unpack", "--image", f"{layout}:img", bundle)
    sh("cp", "-a", f"{root}/.", f"{bundle}/rootfs/")
    sh("umoci", "repack", "--image", f"{layout}:img", bundle)
    sh(tool, "create", *(["--span-size", SPAN_SIZE] if SPAN_SIZE else []), f"{layout}:img")
    sh(tool, "push", f"{layout}:img", dest)
    size = int(sh("du", "-sb", root).stdout.split()[0])
    blobs = f"{layout}/blobs/sha256"
    layer = max(os.path.getsize(f"{blobs}/{b}") for b in os.listdir(blobs))
    shutil.rmtree(bundle)
    return size, layer


def drop_caches():
    sh("sync")
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def time_to_output(argv, env=None):
    """Seconds from starting argv to its first line on stdout (the rest is drained)."""
    t = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = p.stdout.readline()
    took = time.monotonic() - t
    rest, err = p.communicate()
    if not line.startswith("started") or p.returncode != 0:
        raise RuntimeError(f"{argv[:3]}: {line!r} {err[-800:]}")
    return took


def podman_start(work, proxy, ref, store=None):
    """podman run with a storage of its own (and the store, if any), caches dropped."""
    podman = engine_fixture.Podman(work, "lazy" if store else "normal", proxy.host, store=store and store.dir)
    try:
        drop_caches()
        proxy.reset_counts()
        return time_to_output(["podman", "run", "--rm", "--network=none", ref, *CMD], env=podman.env)
    finally:
        podman.destroy()


def engine_only(work, proxy, ref):
    """What podman itself costs: run the image it has already pulled, caches warm."""
    podman = engine_fixture.Podman(work, "warm", proxy.host)
    try:
        podman("pull", ref)
        proxy.reset_counts()
        return time_to_output(["podman", "run", "--rm", "--network=none", ref, *CMD], env=podman.env)
    finally:
        podman.destroy()


def store_start(work, proxy, ref, store_tool):
    store = engine_fixture.Store(store_tool, work, *STORE_ARGS, cache=f"store-cache-{time.monotonic_ns()}")
    try:
        return podman_start(work, proxy, ref, store)
    finally:
        store.stop()


def mount_start(work, proxy, ref, mount_tool):
    mnt = f"{work}/mnt"
    os.makedirs(mnt, exist_ok=True)
    cache = f"{work}/mount-cache-{time.monotonic_ns()}"
    drop_caches()
    proxy.reset_counts()
    t = time.monotonic()
    sh(mount_tool, "--cache-dir", cache, ref, mnt)  # returns once mounted
    mounting = time.monotonic() - t
    try:
        return mounting + time_to_output(["chroot", mnt, *CMD])
    finally:
        subprocess.run(["fusermount3", "-u", mnt])


def median(xs):
    return sorted(xs)[len(xs) // 2]


def main():
    tool, store_tool, mount_tool = (os.path.abspath(a) for a in sys.argv[1:4])
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    root = rootfs()
    results = []
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        reg = registry_fixture.Registry(work)
        ref_direct = f"{reg.host}/bench/python:1"
        size, layer = build_image(work, tool, root, ref_direct)
        print(f"image: {size / 1e6:.0f} MB unpacked, one {layer / 1e6:.0f} MB gzip layer; CMD imports {MODULES}")
        try:
            for link, rtt, rate in LINKS:
                proxy = shaping_proxy.ShapingProxy(reg.port, rtt=rtt, rate=rate)
                try:
                    cal = proxy.calibrate("/v2/")
                    print(f"\n{link}: a 1-byte request takes {cal[1] * 1000:.1f} ms "
                          f"(min {cal[0] * 1000:.1f}, max {cal[2] * 1000:.1f}; set to {rtt * 1000:.0f} ms)")
                    ref = f"{proxy.host}/bench/python:1"
                    row = {"link": link, "calibration_ms": [round(c * 1000, 1) for c in cal]}
                    for name, fn in (("normal pull", lambda: podman_start(work, proxy, ref)),
                                     ("soci-store", lambda: store_start(work, proxy, ref, store_tool)),
                                     ("soci-mount", lambda: mount_start(work, proxy, ref, mount_tool)),
                                     ("podman, image present", lambda: engine_only(work, proxy, ref))):
                        times, counts = [], []
                        for _ in range(rounds):
                            times.append(fn())
                            counts.append(proxy.counts())
                        requests, served = counts[len(counts) // 2]
                        row[name] = {"seconds": [round(t, 2) for t in times], "requests": requests, "bytes": served}
                        print(f"  {name:12s} {median(times):6.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}), "
                              f"{served / 1e6:7.1f} MB in {requests} requests", flush=True)
                    normal, lazy, mounted = (median(row[k]["seconds"]) for k in ("normal pull", "soci-store", "soci-mount"))
                    present = median(row["podman, image present"]["seconds"])
                    print(f"  soci-store starts {normal / lazy:.1f}x sooner than the normal pull; it takes "
                          f"{lazy - mounted:+.2f} s more than soci-mount, podman's own start {present:.2f} s")
                    results.append(row)
                finally:
                    proxy.stop()
        finally:
            reg.stop()
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
