#!/usr/bin/env python3
"""The metadata path: an image of FILES small files (default 100,000), walked through
soci-mount against the same walk over a local extraction, in one run.

usage: bench/metadata_bench.py SOCI_INDEX SOCI_MOUNT [FILES]

The image is written straight into an OCI layout (tests/mount/many_files.py); soci-mount
serves it from there, so no network is involved and only the metadata path is timed:
  open:   soci-mount's start until the mount answers (manifest, zTOC of FILES entries, tree);
  walk:   `find MOUNT -printf '%P %y %s'` (readdir and getattr of every entry), first
          (cold: the kernel's dentry cache empty) and second time, against the same find
          over `tar -x` of the layer on local disk (page and dentry cache warm);
  memory: soci-mount's resident memory after the walk, less that of a mount of a 10-file
          image, per entry.
No span may be fetched: the disk store must be empty afterwards.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "mount"))
import many_files  # noqa: E402


def timed_find(root):
    t0 = time.monotonic()
    listing = many_files.find_listing(root)
    return time.monotonic() - t0, listing


def mount(mount_tool, layout, mnt, cache):
    """soci-mount in the foreground: (process, seconds until the root answers)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([mount_tool, "-f", "--cache-dir", cache, "--no-background-fetch", f"{layout}:img", mnt],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.ismount(mnt):
        if proc.poll() is not None or time.monotonic() - t0 > 120:
            raise SystemExit("soci-mount did not mount")
        time.sleep(0.005)
    return proc, time.monotonic() - t0


def unmount(proc, mnt):
    subprocess.run(["fusermount3", "-u", mnt], check=True)
    proc.wait(timeout=30)


def resident_after_walk(tool, mount_tool, work, dirs, per_dir):
    """Build, index and mount an image; walk it; (open s, cold s, warm s, RSS KiB, listing, spans stored)."""
    sub = tempfile.mkdtemp(dir=work)
    layout, raw, listing = many_files.make_layout(sub, dirs, per_dir)
    subprocess.run([tool, "create", "--min-layer-size", "0", f"{layout}:img"], check=True, capture_output=True)
    mnt, cache = f"{sub}/mnt", f"{sub}/cache"
    os.makedirs(mnt)
    proc, opened = mount(mount_tool, layout, mnt, cache)
    try:
        cold, got = timed_find(mnt)
        warm, _ = timed_find(mnt)
        rss = many_files.rss_kib(proc.pid)
    finally:
        unmount(proc, mnt)
    spans_dir = f"{cache}/soci-cache-v1/spans"
    stored = sum(len(f) for _, _, f in os.walk(spans_dir)) if os.path.isdir(spans_dir) else 0
    if got != listing:
        raise SystemExit(f"the mount's listing differs from the tar's ({len(got)} vs {len(listing)} entries)")
    return opened, cold, warm, rss, raw, listing, stored


def measure(tool, mount_tool, files=100_000, per_dir=200):
    """Figures of the walk (seconds, bytes), the listings checked against the tar's."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        opened, cold, warm, rss, raw, listing, stored = resident_after_walk(tool, mount_tool, work,
                                                                            files // per_dir, per_dir)
        _, _, _, rss_small, _, small, _ = resident_after_walk(tool, mount_tool, work, 1, 10)
        local = f"{work}/extracted"
        os.makedirs(local)
        subprocess.run(["tar", "-x", "-C", local], input=raw, check=True)
        timed_find(local)  # warm the caches as the mount's second walk has them
        base, got = timed_find(local)
        if got != listing:
            raise SystemExit("the local extraction's listing differs from the tar's")
        shutil.rmtree(local)
    return {"entries": len(listing), "per_dir": per_dir, "stored": stored, "open": opened, "local": base,
            "cold": cold, "warm": warm, "rss": rss * 1024, "rss_small": rss_small * 1024,
            "per_entry": (rss - rss_small) * 1024 / (len(listing) - len(small))}


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    tool, mount_tool = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    m = measure(tool, mount_tool, int(sys.argv[3]) if len(sys.argv) > 3 else 100_000)
    print(f"{m['entries']} entries (dirs of {m['per_dir']} files), no span fetched: {m['stored'] == 0} "
          f"({m['stored']} stored)")
    print(f"open (soci-mount start to mounted):      {m['open']:.3f} s")
    print(f"find over a local extraction (warm):     {m['local']:.3f} s")
    print(f"find over soci-mount, first walk:        {m['cold']:.3f} s  ({m['cold'] / m['local']:.1f}x local)")
    print(f"find over soci-mount, second walk:       {m['warm']:.3f} s  ({m['warm'] / m['local']:.1f}x local)")
    print(f"soci-mount resident: {m['rss'] / 2**20:.1f} MiB, {m['rss_small'] / 2**20:.1f} MiB for 10 files: "
          f"{m['per_entry']:.0f} bytes per entry")
    return 0 if m["stored"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
