#!/usr/bin/env python3
"""soci-mount against a full pull: time to a start-up set, and whole-tree throughput.

usage: bench/mount_bench.py SOCI_INDEX SOCI_MOUNT [MIB] [RTT_MS] [MBYTES_PER_S]

The registry and the image are those of remote_bench.py (MIB MiB of /usr in one layer,
behind a proxy adding RTT_MS per request and capping each response at MBYTES_PER_S).
In one run, as root:
  full:  `skopeo copy` + `tar -xzf` (the time before a non-lazy runtime reads a byte),
         then `find DIR -type f | xargs cat` of the extraction, page cache dropped;
  cold:  `soci-mount` with an empty cache directory, time from its start to the start-up
         set read through the mount; then the same find | xargs cat over the mount;
  warm:  the same again on a new mount over the now-full cache directory.
Ratios are printed against the baseline of the same run.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_image  # noqa: E402


def drop_page_cache():
    subprocess.run(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def read_tree(root):
    """find | xargs cat over root: (seconds, bytes)."""
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs
                if os.path.isfile(os.path.join(d, f)) and not os.path.islink(os.path.join(d, f)))
    t0 = time.monotonic()
    subprocess.run(f"find '{root}' -type f -print0 | xargs -0 -P 4 -n 64 cat > /dev/null", shell=True, check=True)
    return time.monotonic() - t0, total


def pull_then_read(work, image):
    """The baseline: a full pull and unpack, then find | xargs cat of the extraction, each
    from a dropped page cache: (pull seconds, read seconds, bytes)."""
    drop_page_cache()
    t0 = time.monotonic()
    unpacked = bench_image.full_pull(work, image)
    pull = time.monotonic() - t0
    drop_page_cache()
    read, total = read_tree(unpacked)
    return pull, read, total


def parse_args(argv):
    """SOCI_INDEX SOCI_MOUNT [MIB] [RTT_MS] [MBYTES_PER_S] -> tool, mount tool, MiB,
    seconds per request, bytes per second."""
    tool, mount_tool = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    mib = int(argv[3]) if len(argv) > 3 else 300
    rtt = float(argv[4]) / 1000 if len(argv) > 4 else 0.02
    rate = int(float(argv[5]) * 1e6) if len(argv) > 5 else 50_000_000
    return tool, mount_tool, mib, rtt, rate


def mount_startup(mount_tool, image, mnt, cache, startup):
    """Mount (page cache dropped first) and read the start-up set: seconds from starting
    soci-mount, still mounted."""
    drop_page_cache()
    t0 = time.monotonic()
    subprocess.run([mount_tool, "--cache-dir", cache, "--no-background-fetch", image, mnt], check=True)
    for p in startup:
        with open(os.path.join(mnt, p), "rb") as f:
            f.read()
    return time.monotonic() - t0


def mounted_run(mount_tool, image, mnt, cache, startup):
    """Mount, read the start-up set, then the whole tree; unmount."""
    first = mount_startup(mount_tool, image, mnt, cache, startup)
    seconds, total = read_tree(mnt)
    subprocess.run(["fusermount3", "-u", mnt], check=True)
    return first, seconds, total


def main():
    tool, mount_tool, mib, rtt, rate = parse_args(sys.argv)
    with bench_image.network(rtt, rate, "/var/tmp") as (work, reg, proxy):
        _, chosen, layer_bytes = bench_image.make_usr_image(work, tool, mib, f"{reg.host}/bench:1")
        startup = bench_image.startup_sets(chosen)["clustered (one directory)"]
        image = f"{proxy.host}/bench:1"
        mnt, cache = f"{work}/mnt", f"{work}/cache"
        os.makedirs(mnt)

        full_first, local_s, local_bytes = pull_then_read(work, image)

        cold = mounted_run(mount_tool, image, mnt, cache, startup)
        warm = mounted_run(mount_tool, image, mnt, cache, startup)
    mb = 1e6
    print(f"image: one {layer_bytes / 2**20:.1f} MiB gzip layer ({mib} MiB of /usr, {local_bytes / 2**20:.0f} MiB of "
          f"files); network: {rtt * 1000:.0f} ms per request, {rate / mb:.0f} MB/s per response")
    print(f"{'':<34} {'to start-up set':>16} {'find|xargs cat':>16}")
    print(f"{'full pull + unpack, local disk':<34} {full_first:14.2f} s {local_bytes / local_s / mb:11.1f} MB/s")
    for name, (first, seconds, total) in (("soci-mount, cold cache", cold), ("soci-mount, warm cache", warm)):
        print(f"{name:<34} {first:14.2f} s {total / seconds / mb:11.1f} MB/s   ratios: start-up "
              f"{full_first / first:.1f}x sooner, throughput {total / seconds / (local_bytes / local_s):.2f}x of local")
    return 0


if __name__ == "__main__":
    sys.exit(main())
