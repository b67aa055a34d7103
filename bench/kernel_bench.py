#!/usr/bin/env python3
"""The kernel path (soci-mount --kernel: EROFS per layer + overlayfs) against the FUSE tree
and against local disk, in one run, as root.

usage: bench/kernel_bench.py SOCI_INDEX SOCI_MOUNT [MIB] [RTT_MS] [MBYTES_PER_S]

metadata: the 100,502-entry image of tests/mount/many_files.py in an OCI layout (no
          network): `find -printf '%P %y %s'` over it, first walk with the page and
          dentry caches dropped, then a second walk, for a local `tar -x` extraction,
          soci-mount (FUSE) and soci-mount --kernel; the memory of each stack after the
          walks: soci-mount's resident set, plus for the kernel path its EROFS images
          (what the kernel may cache of them), per entry.
data:     the image of bench/mount_bench.py (MIB MiB of /usr in one gzip layer) behind
          bench/shaping_proxy.py (RTT_MS per request, MBYTES_PER_S per response):
          `find | xargs cat` of the whole tree, page cache dropped:
            baseline: skopeo copy + tar -xzf (a full pull and unpack), then the read from
                      local disk: both times, and the read alone;
            cold:     each mount with an empty cache directory, from its start to the last
                      byte read;
            warm:     a new mount over the now-full cache directory, the read alone (and
                      the mount's time beside it). soci-mount --kernel keeps each layer's
                      decoded data once it is all local (waited for after the cold read)
                      and mounts those copies: "warm after boot" with their check not
                      remembered (each copy hashed at mount), "warm" with it.
The listings are checked against the tar's, the bytes read against the local read's.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "mount"))
import bench_image  # noqa: E402
import many_files  # noqa: E402
from mount_bench import drop_page_cache, pull_then_read, read_tree  # noqa: E402

RUNTIME = "/run/soci-mount"


class Mounted:
    """soci-mount (FUSE, or --kernel) daemonized; seconds from its start until mounted."""

    def __init__(self, mount_tool, image, mnt, cache, kernel):
        self.mnt, self.kernel = mnt, kernel
        t0 = time.monotonic()
        args = [mount_tool] + (["--kernel"] if kernel else []) + ["--cache-dir", cache, "--no-background-fetch",
                                                                 image, mnt]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.opened = time.monotonic() - t0

    def pid(self):
        """soci-mount's pid (the daemon): the one serving this mount point."""
        out = subprocess.run(["pgrep", "-f", f"soci-mount.* {self.mnt}$"], capture_output=True, text=True).stdout
        return int(out.split()[0])

    def unmount(self):
        subprocess.run(["umount" if self.kernel else "fusermount3", *([] if self.kernel else ["-u"]), self.mnt],
                       check=True)
        deadline = time.time() + 60
        while (glob.glob(f"{RUNTIME}/*") if self.kernel else os.path.ismount(self.mnt)) and time.time() < deadline:
            time.sleep(0.05)


def timed_find(root):
    t0 = time.monotonic()
    listing = many_files.find_listing(root)
    return time.monotonic() - t0, listing


def metadata(tool, mount_tool, work):
    layout, raw, listing = many_files.make_layout(work)
    subprocess.run([tool, "create", "--min-layer-size", "0", f"{layout}:img"], check=True, capture_output=True)
    local = f"{work}/extracted"
    os.makedirs(local)
    subprocess.run(["tar", "-x", "-C", local], input=raw, check=True)
    drop_page_cache()
    cold, got = timed_find(local)
    warm, _ = timed_find(local)
    assert got == listing, "the local extraction's listing differs from the tar's"
    rows = {"local extraction": (None, cold, warm, None)}
    for name, kernel in (("soci-mount (FUSE)", False), ("soci-mount --kernel", True)):
        mnt, cache = f"{work}/mnt-{int(kernel)}", f"{work}/cache-{int(kernel)}"
        os.makedirs(mnt)
        drop_page_cache()
        m = Mounted(mount_tool, f"{layout}:img", mnt, cache, kernel)
        try:
            drop_page_cache()
            first, got = timed_find(mnt)
            second, _ = timed_find(mnt)
            assert got == listing, f"{name}: the listing differs from the tar's"
            rss = many_files.rss_kib(m.pid()) * 1024
            images = sum(os.path.getsize(p) for p in glob.glob(f"{cache}/erofs/*.erofs"))
        finally:
            m.unmount()
        rows[name] = (m.opened, first, second, (rss + images) / len(listing))
    return len(listing), rows


def wait_for_copies(cache, timeout=600):
    """Seconds until soci-mount --kernel has kept a decoded copy of every layer's data."""
    t0, deadline = time.monotonic(), time.time() + timeout
    while len(glob.glob(f"{cache}/erofs/*.dev.sha256")) < len(glob.glob(f"{cache}/erofs/*.erofs")):
        if time.time() > deadline:
            raise SystemExit("no decoded copies were kept")
        time.sleep(0.1)
    return time.monotonic() - t0


def warm_read(mount_tool, image, mnt, cache, kernel):
    """(seconds to mount, seconds to read the tree) over the full cache, page cache dropped."""
    drop_page_cache()
    m = Mounted(mount_tool, image, mnt, cache, kernel)
    read, _ = read_tree(mnt)
    m.unmount()
    return m.opened, read


def data(tool, mount_tool, work, mib, rtt, rate):
    with bench_image.network(rtt, rate, work) as (net, reg, proxy):
        bench_image.make_usr_image(net, tool, mib, f"{reg.host}/bench:1")
        image = f"{proxy.host}/bench:1"
        pull, local_read, total = pull_then_read(net, image)
        rows = {}
        for name, kernel in (("soci-mount (FUSE)", False), ("soci-mount --kernel", True)):
            mnt, cache = f"{net}/mnt-{int(kernel)}", f"{net}/cache-{int(kernel)}"
            os.makedirs(mnt)
            drop_page_cache()
            t0 = time.monotonic()
            m = Mounted(mount_tool, image, mnt, cache, kernel)
            read, got = read_tree(mnt)
            cold = time.monotonic() - t0
            # The kernel path keeps each layer's decoded data once it is all local: the
            # warm mounts read from those copies.
            copies = wait_for_copies(cache) if kernel else None
            m.unmount()
            assert got == total, f"{name}: {got} bytes, local {total}"
            after_boot = None
            if kernel:
                # As after a reboot: the copies' check is not remembered, they are hashed.
                shutil.rmtree(f"{RUNTIME}/.checked", ignore_errors=True)
                after_boot = warm_read(mount_tool, image, mnt, cache, kernel)
            rows[name] = (cold, warm_read(mount_tool, image, mnt, cache, kernel), copies, after_boot or (None, None))
    return total, pull, local_read, rows


def main():
    if len(sys.argv) < 3 or os.geteuid() != 0:
        raise SystemExit(__doc__)
    tool, mount_tool = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    mib = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    rtt = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.02
    rate = int(float(sys.argv[5]) * 1e6) if len(sys.argv) > 5 else 50_000_000
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        entries, rows = metadata(tool, mount_tool, f"{work}")
        _, local_cold, local_warm, _ = rows["local extraction"]
        print(f"metadata: find over {entries} entries (first walk: page and dentry caches dropped)")
        print(f"{'':<24} {'open':>8} {'first walk':>18} {'second walk':>18} {'memory/entry':>13}")
        for name, (opened, first, second, per_entry) in rows.items():
            ratio = "" if opened is None else f" {first / local_cold:4.2f}x"
            ratio2 = "" if opened is None else f" {second / local_warm:4.2f}x"
            print(f"{name:<24} {'' if opened is None else f'{opened:6.2f} s':>8} {first:7.3f} s{ratio:>7}   "
                  f"{second:7.3f} s{ratio2:>7} {'' if per_entry is None else f'{per_entry:8.0f} B':>13}")
        sub = f"{work}/data"
        os.makedirs(sub)
        total, pull, local_read, drows = data(tool, mount_tool, sub, mib, rtt, rate)
        mb = 1e6
        print(f"\ndata: find | xargs cat of {total / 2**20:.0f} MiB of files, {rtt * 1000:.0f} ms per request, "
              f"{rate / mb:.0f} MB/s per response, page cache dropped")
        print(f"{'full pull + unpack, then read':<30} {pull + local_read:7.2f} s  (pull {pull:.2f} s, "
              f"read {local_read:.2f} s: {total / local_read / mb:.0f} MB/s)")
        for name, (cold, warm, copies, after_boot) in drows.items():
            print(f"{name + ', cold':<34} {cold:7.2f} s  ({(pull + local_read) / cold:.2f}x the pull's speed)")
            if copies is not None:
                print(f"{'':<34} decoded copies kept {copies:.1f} s after the read ended")
            for label, (opened, read) in ((", warm", warm), (", warm after boot", after_boot)):
                if read is not None:
                    print(f"{name + label:<34} {read:7.2f} s  ({total / read / mb:.0f} MB/s: "
                          f"{local_read / read:.2f}x local disk; mount {opened:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
