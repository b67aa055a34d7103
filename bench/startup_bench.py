#!/usr/bin/env python3
"""Start-up of a big image, lazily and not, with a profile of the lazy path.

The image: Debian bookworm with python3, pandas, scipy and matplotlib from Debian's
packages (debootstrap; its root folder kept in /var/tmp/libsoci-bench for the next run),
two gzip layers (/usr/lib/python3 on top, the rest below), indexed with soci-index's
defaults and pushed to a loopback registry. The start-up is
`python3 -c "import pandas, scipy.stats, matplotlib"`, timed from the start of the first
command to its first line of output, the page cache dropped before each run. Paths, in
the same run, over the same link:

  local extraction  the layers unpacked on this disk beforehand: the floor
  normal pull       podman run, image absent: pulls and unpacks every layer, then runs
  soci-mount        mounted with a fresh cache dir, an overlayfs upper on top (what an
                    engine does), chroot, run
  soci-mount, learned   the same, from the image whose SOCI index carries the prefetch
                    artifacts learned from a first start (soci-mount --record, then
                    soci-index create --prefetch-record): those spans are fetched in
                    parallel before the command runs
  soci-mount --kernel (and --kernel, learned)   the same through the kernel: each layer
                    an EROFS image from its zTOC over its data read lazily, overlayfs
  soci-store (and soci-store, learned)   podman run, image absent, with soci-store as its
                    additional layer store (an empty cache): what an engine's start costs
                    lazily (soci-store is taken from beside SOCI_MOUNT in the build)
PATHS="name;name" in the environment runs only those paths.

The link is bench/shaping_proxy.py in front of the registry (20 ms per request and
50 MB/s per connection, calibrated and reported), then loopback straight to the registry
(no proxy, whose Python would take CPU from the start-up: bytes and requests are then the
ones soci-mount counted, layer data only). FORMATS=estargz,zstd:chunked adds the same image in those formats (converted
by tests/mount/chunked_formats.py, no SOCI index): its normal pull and soci-mount reading
it through the layers' own TOCs. SPAN_SIZE in the environment sets the index's span size (soci-index create
--span-size; default 4 MiB, the reference's). For the soci-mount and soci-store paths it
prints the profile their --stats-file gives: bytes and requests the proxy served (up to
ready for soci-mount, up to podman's exit for soci-store), spans needed, decoded and
decoded again, time readers waited for data, time fetching and decoding (summed over
threads), the daemon's CPU time and page faults, and for soci-mount its set-up and the
FUSE requests it served.

Usage (root): startup_bench.py SOCI_INDEX SOCI_MOUNT [ROUNDS]
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
sys.path.insert(0, os.path.join(HERE, "..", "tests", "mount"))
import engine_fixture  # noqa: E402
import registry_fixture  # noqa: E402
import shaping_proxy  # noqa: E402
from store_bench import drop_caches, median, sh, time_to_output  # noqa: E402  (the same start, timed alike)

PACKAGES = "python3,python3-pandas,python3-scipy,python3-matplotlib"
ROOTFS = "/var/tmp/libsoci-bench/rootfs-scipy"
TOP_LAYER = "usr/lib/python3"  # the second layer; everything else is the first
CMD = ["python3", "-c", "import pandas, scipy.stats, matplotlib; print('started', flush=True)"]
FORMATS = [f for f in os.environ.get("FORMATS", "").split(",") if f]  # "estargz", "zstd:chunked"
SPAN_SIZE = os.environ.get("SPAN_SIZE")  # soci-index create --span-size (default: its own, 4 MiB)
# (name, rtt, rate); rtt None: no proxy, straight to the registry
LINKS = [("20 ms per request, 50 MB/s per connection", 0.020, 50_000_000),
         ("loopback, straight to the registry", None, 0)]


def rootfs():
    """The debootstrapped root folder, made once and kept."""
    if not os.path.isdir(f"{ROOTFS}/usr/bin"):
        if shutil.which("debootstrap") is None:
            sh("apt-get", "install", "-y", "debootstrap")
        shutil.rmtree(ROOTFS, ignore_errors=True)
        os.makedirs(os.path.dirname(ROOTFS), exist_ok=True)
        print(f"debootstrap bookworm with {PACKAGES} (once, kept in {ROOTFS})", flush=True)
        sh("debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", ROOTFS,
           "http://deb.debian.org/debian")
    sh("find", f"{ROOTFS}/var/cache/apt/archives", "-name", "*.deb", "-delete")
    return ROOTFS


def span_size():
    return ["--span-size", SPAN_SIZE] if SPAN_SIZE else []


def copy(src, dest, *what):
    """tar's copy of what (paths in src, with options), owners, modes and xattrs kept."""
    pack = subprocess.Popen(["tar", "-C", src, "--xattrs", "-cf", "-", *what], stdout=subprocess.PIPE)
    sh("tar", "-C", dest, "--xattrs", "-xpf", "-", stdin=pack.stdout)
    if pack.wait() != 0:
        raise RuntimeError(f"tar of {src} failed")


def build_image(work, tool, root):
    """An OCI layout holding the image as two layers, with its SOCI index."""
    layout, bundle = f"{work}/layout", f"{work}/bundle"
    sh("umoci", "init", "--layout", layout)
    sh("umoci", "new", "--image", f"{layout}:img")
    sh("umoci", "unpack", "--image", f"{layout}:img", bundle)
    copy(root, f"{bundle}/rootfs", f"--exclude=./{TOP_LAYER}", ".")
    sh("umoci", "repack", "--refresh-bundle", "--image", f"{layout}:img", bundle)  # the next diffs from here
    copy(root, f"{bundle}/rootfs", f"./{TOP_LAYER}")
    sh("umoci", "repack", "--image", f"{layout}:img", bundle)
    shutil.rmtree(bundle)
    sh(tool, "create", *span_size(), f"{layout}:img")
    return layout


def chunked_variants(work, layout, tool, reg_host):
    """The image converted to each of FORMATS and pushed: {format: tag}."""
    import test_image
    tags = {}
    for fmt in FORMATS:
        variant = test_image.estargz_variant if fmt == "estargz" else test_image.zstd_chunked_variant
        out = variant(work, layout, name=f"img-{fmt.replace(':', '-')}")
        tag = f"bench/scipy:{fmt.replace(':', '-')}"
        sh(tool, "push", f"{out}:img", f"{reg_host}/{tag}")
        shutil.rmtree(out)
        tags[fmt] = tag
    return tags


def layer_sizes(layout):
    index = json.load(open(f"{layout}/index.json"))
    digest = next(m["digest"] for m in index["manifests"] if m.get("annotations", {}).get(
        "org.opencontainers.image.ref.name") == "img")
    manifest = json.load(open(f"{layout}/blobs/sha256/{digest[7:]}"))
    if "manifests" in manifest:  # the image index a v2 SOCI index build makes
        inner = next(m for m in manifest["manifests"] if "artifactType" not in m)
        manifest = json.load(open(f"{layout}/blobs/sha256/{inner['digest'][7:]}"))
    return [layer["size"] for layer in manifest["layers"]]


def local_start(root):
    """The floor: the image's files on this disk (its root folder), page cache dropped."""
    drop_caches()
    return time_to_output(["chroot", root, *CMD]), None


def podman_start(work, proxy, ref, store=None):
    """podman run, the image absent (through soci-store when given), caches dropped."""
    podman = engine_fixture.Podman(work, "lazy" if store else "normal", proxy.host, store=store and store.dir)
    try:
        drop_caches()
        proxy.reset_counts()
        return time_to_output(["podman", "run", "--rm", "--network=none", ref, *CMD], env=podman.env), None
    finally:
        podman.destroy()


def store_start(work, proxy, ref, store_tool):
    """podman with soci-store as its additional layer store, a fresh cache: (seconds,
    profile), the profile from the store's --stats-file (its figures up to its stop)."""
    stats = f"{work}/store-stats.json"
    store = engine_fixture.Store(store_tool, work, "--stats-file", stats, cache=f"store-cache-{time.monotonic_ns()}")
    try:
        took, _ = podman_start(work, proxy, ref, store)
        requests, served = proxy.counts()
    finally:
        store.stop()
        shutil.rmtree(store.cache, ignore_errors=True)
    with open(stats) as f:  # written whole as the store stops
        profile = json.load(f)
    os.unlink(stats)
    if requests is None:  # no proxy: what the store fetched
        requests, served = profile["library"]["requests"], profile["library"]["bytes_fetched"]
    profile["proxy"] = {"requests": requests, "bytes": served}
    return took, profile


def mount_start(work, proxy, ref, mount_tool, record=None, kernel=False):
    """soci-mount (FUSE, or --kernel: EROFS per layer + overlayfs) with a fresh cache, an
    overlayfs upper on top, chroot: (seconds, profile)."""
    mnt, upper, merged = f"{work}/mnt", f"{work}/upper", f"{work}/merged"
    for d in (mnt, merged):
        os.makedirs(d, exist_ok=True)
    shutil.rmtree(upper, ignore_errors=True)
    os.makedirs(f"{upper}/diff")
    os.makedirs(f"{upper}/work")
    cache, stats = f"{work}/mount-cache-{time.monotonic_ns()}", f"{work}/stats.json"
    drop_caches()
    proxy.reset_counts()
    t = time.monotonic()
    sh(mount_tool, *(["--kernel"] if kernel else []), "--cache-dir", cache, "--stats-file", stats,
       *(["--record", record] if record else []), ref, mnt)
    mounted = time.monotonic() - t
    try:
        sh("mount", "-t", "overlay", "overlay", "-o",
           f"lowerdir={mnt},upperdir={upper}/diff,workdir={upper}/work", merged)
        took = time.monotonic() - t + time_to_output(["chroot", merged, *CMD])
        requests, served = proxy.counts()
    finally:
        subprocess.run(["umount", merged])
        subprocess.run(["umount", mnt] if kernel else ["fusermount3", "-u", mnt])
    deadline = time.time() + 30
    while not os.path.exists(stats) and time.time() < deadline:  # written as the daemon exits
        time.sleep(0.05)
    with open(stats) as f:
        profile = json.load(f)
    os.unlink(stats)
    shutil.rmtree(cache, ignore_errors=True)
    if requests is None:  # no proxy: what soci-mount fetched
        requests, served = profile["library"]["requests"], profile["library"]["bytes_fetched"]
    profile["proxy"] = {"requests": requests, "bytes": served}
    profile["mount_s"] = mounted
    return took, profile


def learn(work, tool, mount_tool, layout, proxy, ref, learned_ref):
    """Record a start through soci-mount, then index the image again with the record."""
    record = f"{work}/record.json"
    mount_start(work, proxy, ref, mount_tool, record=record)
    deadline = time.time() + 30
    while not os.path.exists(record) and time.time() < deadline:
        time.sleep(0.05)
    sh(tool, "create", *span_size(), "--prefetch-record", record, f"{layout}:img")
    sh(tool, "push", f"{layout}:img", learned_ref)


def describe(profile):
    if profile is None:
        return ""
    lib = profile["library"]
    text = ""
    if "startup" in profile:  # soci-mount's: how it came up
        up = profile["startup"]
        text = (f"mounted in {profile['mount_s']:.2f} s (image {up['image_ns'] / 1e9:.2f} s, tree "
                f"{up['tree_ns'] / 1e9:.2f} s, prefetch {up['prefetch_ns'] / 1e9:.2f} s); ")
    text += (f"{profile['proxy']['bytes'] / 1e6:.1f} MB in {profile['proxy']['requests']} requests; "
             f"spans needed {lib['spans_demanded']}, decoded {lib['spans_decoded']} "
             f"({lib['spans_redecoded']} again), memory hits {lib['cache_hits']}, disk hits {lib['disk_hits']}; "
             f"readers waited {lib['read_wait_ns'] / 1e9:.2f} s, fetching {lib['fetch_ns'] / 1e9:.2f} s "
             f"and decoding {lib['decode_ns'] / 1e9:.2f} s (thread sums)")
    if "process" in profile:  # the daemon's own CPU time and page faults, from its start
        text += (f"; the daemon used {profile['process']['cpu_ns'] / 1e9:.2f} CPU-s, "
                 f"{profile['process']['minor_faults']} page faults")
    if "fuse" in profile:
        fuse = profile["fuse"]
        fuse_calls = sum(v["calls"] for v in fuse.values())
        fuse_ms = sum(v["ns"] for v in fuse.values()) / 1e6
        text += (f"; {fuse_calls} FUSE requests served in {fuse_ms / 1e3:.2f} s "
                 f"(reads {fuse['read']['calls']}, {fuse['read']['ns'] / 1e9:.2f} s)")
    return "\n      " + text


def median_run(runs):
    return sorted(runs, key=lambda r: r[0])[len(runs) // 2]


def measure(name, fn, rounds, proxy):
    """rounds starts by fn, as a row entry (the median run's profile), printed as it comes."""
    runs = []
    for _ in range(rounds):
        took, profile = fn()
        if profile is None and name != "local extraction":
            requests, served = proxy.counts()
            profile = {"proxy": {"requests": requests, "bytes": served}}
        runs.append((took, profile))
    took, profile = median_run(runs)
    if profile and "library" in profile:
        shown = describe(profile)
    elif profile and profile["proxy"]["bytes"] is not None:
        shown = f", {profile['proxy']['bytes'] / 1e6:.1f} MB in {profile['proxy']['requests']} requests"
    else:
        shown = ""
    print(f"  {name:20s} {took:6.2f} s (runs {', '.join(f'{r[0]:.2f}' for r in runs)}){shown}", flush=True)
    return {"seconds": [round(r[0], 2) for r in runs], "profile": profile}


def link_row(work, root, proxy, variants, mount_tool, rounds):
    """Every path's starts over one link."""
    ref, learned_ref = f"{proxy.host}/bench/scipy:1", f"{proxy.host}/bench/scipy:learned"
    paths = [("local extraction", lambda: local_start(root)),
             ("normal pull", lambda: podman_start(work, proxy, ref)),
             ("soci-mount", lambda: mount_start(work, proxy, ref, mount_tool)),
             ("soci-mount, learned", lambda: mount_start(work, proxy, learned_ref, mount_tool)),
             ("soci-mount --kernel", lambda: mount_start(work, proxy, ref, mount_tool, kernel=True)),
             ("--kernel, learned", lambda: mount_start(work, proxy, learned_ref, mount_tool, kernel=True))]
    store_tool = os.path.join(os.path.dirname(os.path.dirname(mount_tool)), "soci-store", "soci-store")
    if os.path.exists(store_tool):
        paths += [("soci-store", lambda: store_start(work, proxy, ref, store_tool)),
                  ("soci-store, learned", lambda: store_start(work, proxy, learned_ref, store_tool))]
    only = os.environ.get("PATHS")  # e.g. PATHS="local extraction;normal pull;soci-mount --kernel"
    if only:
        paths = [p for p in paths if p[0] in only.split(";")]
    for fmt, tag in variants.items():
        paths += [(f"normal pull, {fmt}", lambda t=tag: podman_start(work, proxy, f"{proxy.host}/{t}")),
                  (f"soci-mount, {fmt}", lambda t=tag: mount_start(work, proxy, f"{proxy.host}/{t}", mount_tool))]
    row = {name: measure(name, fn, rounds, proxy) for name, fn in paths}
    normal, local = median(row["normal pull"]["seconds"]), median(row["local extraction"]["seconds"])
    for name in ("soci-mount", "soci-mount, learned", "soci-mount --kernel", "--kernel, learned", "soci-store",
                 "soci-store, learned") + tuple(
            f"soci-mount, {fmt}" for fmt in variants):
        if name not in row:
            continue
        lazy = median(row[name]["seconds"])
        print(f"  {name}: {normal / lazy:.1f}x sooner than the normal pull, {lazy / local:.1f}x the local extraction")
    return row


def main():
    tool, mount_tool = (os.path.abspath(a) for a in sys.argv[1:3])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    root = rootfs()
    results = []
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        t = time.monotonic()
        layout = build_image(work, tool, root)
        sizes = layer_sizes(layout)
        print(f"image: {sum(sizes) / 1e6:.0f} MB compressed, layers of "
              f"{', '.join(f'{s / 1e6:.0f}' for s in sizes)} MB (built in {time.monotonic() - t:.0f} s); "
              f"start-up: {' '.join(CMD[2:])}", flush=True)
        reg = registry_fixture.Registry(work)
        try:
            sh(tool, "push", f"{layout}:img", f"{reg.host}/bench/scipy:1")
            variants = chunked_variants(work, layout, tool, reg.host)
            for n, (link, rtt, rate) in enumerate(LINKS):
                proxy = (shaping_proxy.Direct(reg.port) if rtt is None
                         else shaping_proxy.ShapingProxy(reg.port, rtt=rtt, rate=rate))
                try:
                    cal = proxy.calibrate("/v2/")
                    print(f"\n{link}: a 1-byte request takes {cal[1] * 1000:.1f} ms "
                          f"(min {cal[0] * 1000:.1f}, max {cal[2] * 1000:.1f}; "
                          f"{'no proxy' if rtt is None else f'set to {rtt * 1000:.0f} ms'})", flush=True)
                    if n == 0:  # learned once, over the first link
                        learn(work, tool, mount_tool, layout, proxy, f"{proxy.host}/bench/scipy:1",
                              f"{reg.host}/bench/scipy:learned")
                    row = link_row(work, root, proxy, variants, mount_tool, rounds)
                    results.append({"link": link, "calibration_ms": [round(c * 1000, 1) for c in cal], **row})
                finally:
                    proxy.stop()
        finally:
            reg.stop()
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
