#!/usr/bin/env python3
"""The kernel path: each layer an EROFS image from its zTOC, data read lazily.

- The reference vectors (layers and zTOCs made by the reference implementation): each
  image passes Debian's fsck.erofs (and its extraction), mounts on this kernel with the
  data device written out by `soci-index ztoc erofs-device`, and equals what Python's
  tarfile reads from the layer (types, modes, owners, sizes, mtimes, link targets,
  xattrs, device numbers, nlink, every byte), whiteouts in overlay form.
- soci-mount --kernel on the three-layer test image in a loopback docker-registry: the
  tree equals `umoci unpack`; every kept image passes fsck.erofs; a program runs from it
  (chroot), and with the index learned from that run, the learned blocks go to the
  kernel before it asks (next to no FUSE read) and the tree still equals it; the registry stopped mid-read gives EIO, not a hung mount; umount ends it and
  nothing is left (mounts, runtime directory, loop devices); after SIGKILL the next mount
  at the same place cleans up and mounts; loop devices (--kernel-loop) work too; zstd,
  eStargz and zstd:chunked images; the 100,000-file image lists the same.

Usage: test_kernel.py SOCI_INDEX SOCI_MOUNT
"""
import ctypes
import errno
import glob
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "registry"))
from pyharness import check, run, run_cases  # noqa: E402
import many_files  # noqa: E402
import registry_fixture  # noqa: E402
import test_image  # noqa: E402
import test_mount  # noqa: E402
from test_mount import compare_trees, describe, mounted  # noqa: E402

TOOL = MOUNT = None
VECTORS = os.path.join(HERE, "..", "data", "vectors")
RUNTIME = None  # the runtime directory soci-mount --kernel is told to use
libc = ctypes.CDLL(None, use_errno=True)


def mount_erofs(image, device, target):
    if libc.mount(image.encode(), target.encode(), b"erofs", 1, f"device={device}".encode()) != 0:
        raise OSError(ctypes.get_errno(), f"mount {image} at {target}")


def fsck(image, device, extract=None):
    args = ["fsck.erofs", f"--device={device}"] + ([f"--extract={extract}"] if extract else []) + [image]
    p = subprocess.run(args, capture_output=True, text=True)
    return p.returncode == 0, p.stdout + p.stderr


# ---- what a tar holds, read with Python's tarfile: the independent account ----

def tar_expectation(layer):
    """{path: attributes} as a kernel tree of the layer must show them (describe()'s form),
    whiteouts in overlay form, hard links sharing their target's attributes."""
    want, data, links = {}, {}, {}
    with tarfile.open(layer) as t:
        for m in t:
            path = os.path.normpath(m.name.lstrip("/")).lstrip("./") if m.name not in (".", "./") else ""
            if path in ("", "."):
                continue
            base, parent = os.path.basename(path), os.path.dirname(path)
            for i in range(len(parent.split("/")) if parent else 0):
                want.setdefault("/".join(parent.split("/")[:i + 1]), {"type": stat.S_IFDIR, "mode": "0o755",
                                                                      "uid": 0, "gid": 0, "xattrs": {}})
            if base == ".wh..wh..opq":
                # overlayfs reads (and hides) the trusted. one; no user.overlay.* is written.
                want[parent]["xattrs"].update({"trusted.overlay.opaque": b"y"})
                continue
            if base.startswith(".wh."):
                name = os.path.join(parent, base[4:])
                for k in [k for k in want if k == name or k.startswith(name + "/")]:
                    del want[k]
                want[name] = {"type": stat.S_IFCHR, "mode": "0o0", "uid": m.uid, "gid": m.gid, "xattrs": {},
                              "rdev": (0, 0)}
                continue
            xattrs = {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape")
                      for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
            d = {"mode": oct(m.mode & 0o7777), "uid": m.uid, "gid": m.gid, "xattrs": xattrs}
            if not valid_capability(xattrs.get("security.capability", b"x" * 20)):
                del xattrs["security.capability"]
                d["unreadable capability"] = True
            if m.islnk():
                target = os.path.normpath(m.linkname.lstrip("/")).lstrip("./")
                links[path] = target
                want[path] = dict(want[target])
                continue
            if m.isdir():
                old = want.get(path, {})
                d.update(type=stat.S_IFDIR)
                if old.get("type") == stat.S_IFDIR:
                    want[path] = d
                    continue
            elif m.isreg():
                body = t.extractfile(m).read()
                data[path] = body
                d.update(type=stat.S_IFREG, size=len(body), mtime=int(m.mtime), sha256=hashlib.sha256(body).hexdigest())
            elif m.issym():
                d.update(type=stat.S_IFLNK, target=m.linkname, size=len(m.linkname.encode()))
            elif m.ischr() or m.isblk():
                d.update(type=stat.S_IFCHR if m.ischr() else stat.S_IFBLK, rdev=(m.devmajor, m.devminor))
            elif m.isfifo():
                d.update(type=stat.S_IFIFO)
            for k in [k for k in want if k.startswith(path + "/")] if not m.isdir() else []:
                del want[k]
            want[path] = d
    # nlink of regular files: the names that share each file.
    counts = {}
    for p, target in links.items():
        if p in want:
            counts[target] = counts.get(target, 1) + 1
    for p, d in want.items():
        if d["type"] == stat.S_IFREG:
            root = links.get(p, p)
            d["nlink"] = counts.get(root, 1)
    for d in want.values():
        if d["type"] != stat.S_IFREG:
            d.pop("mtime", None)
    return want


def valid_capability(value):
    """The kernel reads back only well-formed security.capability values (v2: 20 bytes,
    v3: 24), and refuses others with EINVAL, as it refuses to set them."""
    return len(value) in (20, 24)


def kernel_description(root):
    got = describe(root)
    for path, d in got.items():
        if d["type"] == stat.S_IFCHR and d.get("rdev") == (0, 0):
            d["mode"] = "0o0"
        if d["xattrs"] == f"error {errno.EINVAL}":
            p = os.path.join(root, path)
            d["xattrs"] = {k: os.getxattr(p, k, follow_symlinks=False)
                           for k in os.listxattr(p, follow_symlinks=False) if k != "security.capability"}
            d["unreadable capability"] = True
    return got


def test_vectors(work):
    names = sorted(n for n in os.listdir(VECTORS) if os.path.isdir(os.path.join(VECTORS, n)))
    done = 0
    for name in names:
        for ztoc in sorted(glob.glob(os.path.join(VECTORS, name, "*.ztoc"))):
            layer = glob.glob(os.path.join(VECTORS, name, "layer.tar*"))[0]
            base = os.path.join(work, f"vec-{name}-{os.path.basename(ztoc)}")
            image, device, mnt = base + ".erofs", base + ".dev", base + ".mnt"
            run(TOOL, "ztoc", "erofs", "--tag", name, ztoc, "-o", image)
            run(TOOL, "ztoc", "erofs-device", ztoc, layer, "-o", device)
            ok, out = fsck(image, device, extract=base + ".x")
            check(ok, f"{name}: fsck.erofs --extract: {out[-400:]}")
            again = base + ".again"
            run(TOOL, "ztoc", "erofs", "--tag", name, ztoc, "-o", again)
            check(open(image, "rb").read() == open(again, "rb").read(), f"{name}: the image is not deterministic")
            os.mkdir(mnt)
            mount_erofs(image, device, mnt)
            try:
                want, got = tar_expectation(layer), kernel_description(mnt)
                missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
                check(not missing and not extra, f"{name}: missing {missing[:5]}, extra {extra[:5]}")
                bad = [(p, got[p], want[p]) for p in sorted(set(got) & set(want))
                       if {k: v for k, v in got[p].items() if k in want[p]} != want[p]]
                check(not bad, f"{name}: {len(bad)} entries differ, e.g. {bad[:2]}")
                done += 1
            finally:
                subprocess.run(["umount", mnt])
    check(done >= 10, f"only {done} vectors compared")
    print(f"     {done} zTOCs: fsck.erofs clean, kernel tree equal to tarfile's reading")


# ---- soci-mount --kernel ----

def runtime_dirs():
    return [d for d in glob.glob(f"{RUNTIME}/*") if os.path.isdir(d)]


class KernelMount(test_mount.Mount):
    """soci-mount --kernel: ready once its tree is stacked (a dead run's, still mounted at
    the same place, does not count); unmounted with umount, gone once its runtime
    directory is."""
    extra = ("--kernel",)
    prefix = "kmnt-"
    unmount_command = ("umount",)

    def ready(self):
        if not mounted(self.dir):
            return False
        for d in runtime_dirs():
            try:
                pid = int(open(f"{d}/pid").read())
            except (OSError, ValueError):
                continue
            if (self.proc is None or pid == self.proc.pid) and os.path.exists(f"{d}/top"):
                return True
        return False

    def gone(self):
        return not mounted(self.dir) and not runtime_dirs()


def leftover_mounts(work):
    return [line.split()[4] for line in open("/proc/self/mountinfo")
            if line.split()[4].startswith((RUNTIME, work + "/kmnt-", work + "/not-a-directory"))]


def test_tree(work, ref, rootfs):
    cache = os.path.join(work, "kcache")
    m = KernelMount(work, ref, "--cache-dir", cache, daemon=True)
    try:
        # data/hard was hard-linked to data/f02 in layer 0, which layer 1 replaced: overlayfs
        # shows the lower inode's link count (2), as it does for any engine's layers;
        # extracting onto one directory leaves 1.
        check(os.lstat(m.path("data/hard")).st_nlink == 2, "data/hard: the lower layer's link count")
        n = compare_trees(m.dir, rootfs, "kernel tree", ignore_nlink={"data/hard"})
        print(f"     {n} entries identical to umoci unpack")
        check(os.statvfs(m.dir).f_flag & os.ST_RDONLY, "read-only")
        images = glob.glob(f"{cache}/erofs/*.erofs")
        check(len(images) == 3, f"kept images: {images}")
        devs = glob.glob(f"{RUNTIME}/*/devices/*")
        check(len(devs) == 3, f"data devices: {devs}")
        for img in images:
            # Which device goes with which image: try each; one must check clean.
            check(any(fsck(img, d)[0] for d in devs), f"fsck.erofs {img}")
        types = [line.split(" - ")[1].split()[0] for line in open("/proc/self/mountinfo") if RUNTIME in line
                 or line.split()[4] == m.dir]
        check(types.count("erofs") == 3 and "overlay" in types and "fuse.soci" in types, f"mounts: {types}")
    finally:
        check(m.unmount(), "umount of the mount point takes everything down")
    check(not leftover_mounts(work), f"left mounted: {leftover_mounts(work)}")
    # A second mount reuses the kept images (and they still check).
    before = {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{cache}/erofs/*.erofs")}
    m = KernelMount(work, ref, "--cache-dir", cache)
    try:
        after = {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{cache}/erofs/*.erofs")}
        check(before == after, "kept images were made again")
        check("EROFS image" not in m.log_text(), f"second mount built images: {m.log_text()[-300:]}")
        # A damaged kept image is made again, not mounted.
        victim = sorted(before)[0]
    finally:
        check(m.unmount(), "unmount")
    with open(victim, "r+b") as f:
        f.seek(1024 + 14)
        f.write(b"\xff\xff")  # root_nid far out
    m = KernelMount(work, ref, "--cache-dir", cache)
    try:
        check("damaged" in m.log_text(), f"damaged image not noticed: {m.log_text()[-300:]}")
        compare_trees(m.dir, rootfs, "after a damaged image", ignore_nlink={"data/hard"})
    finally:
        check(m.unmount(), "unmount")


def wait_for(what, predicate, timeout=180):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            check(False, f"waited {timeout} s for {what}")
            return False
        time.sleep(0.2)
    return True


def test_decoded(work, ref, rootfs):
    """Once a layer is all local, its decoded data device is kept in the cache directory;
    the next mount reads file data from those files (no read reaches soci-mount), the tree
    still equal to umoci's; a copy changed on disk is noticed, removed, and not mounted; a
    budget too small for a copy keeps none."""
    cache = os.path.join(work, "dcache")
    m = KernelMount(work, ref, "--cache-dir", cache)
    try:
        wait_for("three decoded copies", lambda: len(glob.glob(f"{cache}/erofs/*.dev.sha256")) == 3)
        check(m.log_text().count("decoded data device kept") == 3, f"log: {m.log_text()[-500:]}")
    finally:
        check(m.unmount(), "unmount")
    copies = sorted(glob.glob(f"{cache}/erofs/*.dev"))
    for dev in copies:
        want = open(dev + ".sha256").read().split()[0]
        check(hashlib.sha256(open(dev, "rb").read()).hexdigest() == want, f"{dev}: its sum")
        check(os.stat(dev).st_blocks * 512 < os.stat(dev).st_size + 4096, f"{dev}: zero blocks are holes")
    stats = f"{work}/decoded-stats.json"
    m = KernelMount(work, ref, "--cache-dir", cache, "--stats-file", stats)
    try:
        check(m.log_text().count("data from its decoded copy") == 3, f"log: {m.log_text()[-500:]}")
        compare_trees(m.dir, rootfs, "tree over decoded copies", ignore_nlink={"data/hard"})
        sources = [line.split(" - ")[1].split()[1] for line in open("/proc/self/mountinfo")
                   if " - erofs " in line and RUNTIME in line]
        check(len(sources) == 3, f"erofs mounts: {sources}")
    finally:
        check(m.unmount(), "unmount")
    check(json.load(open(stats))["fuse"]["read"]["calls"] == 0, "reads reached the FUSE data devices")
    # A copy changed behind our back (its sum kept): noticed at the next mount, not used.
    victim = max(copies, key=os.path.getsize)
    with open(victim, "r+b") as f:
        data = f.read(1 << 20)
        at = next(i for i, b in enumerate(data) if b)
        f.seek(at)
        f.write(bytes([data[at] ^ 0xff]))
    m = KernelMount(work, ref, "--cache-dir", cache, "--decoded-size", "1")
    try:
        check("does not match its sum" in m.log_text(), f"changed copy not noticed: {m.log_text()[-500:]}")
        check(not os.path.exists(victim), "the changed copy is still there")
        compare_trees(m.dir, rootfs, "after a changed copy", ignore_nlink={"data/hard"})
        # --decoded-size 1 keeps no new copy: the one removed is not made again.
        wait_for("the budget noted", lambda: "over --decoded-size" in m.log_text(), timeout=120)
        check(not os.path.exists(victim), "a copy over the budget was kept")
    finally:
        check(m.unmount(), "unmount")


def run_program(m, rootfs):
    """A program in the tree (chroot) reads a file whole: its output as the extraction's."""
    p = subprocess.run(["chroot", m.dir, "/bin/sh", "-c", "cat /etc/hostname; sha256sum /data/big"],
                       capture_output=True, text=True, timeout=120)
    want = hashlib.sha256(open(f"{rootfs}/data/big", "rb").read()).hexdigest()
    check(p.returncode == 0 and p.stdout.startswith("soci-test\n") and want in p.stdout,
          f"chroot: {p.returncode} {p.stdout!r} {p.stderr!r}")


def test_chroot(work, ref, rootfs):
    """A program runs from the kernel tree; what it read is recorded (--record) and the
    profile written (--stats-file) as for the FUSE tree."""
    record, stats = f"{work}/kernel-record.json", f"{work}/kernel-stats.json"
    m = KernelMount(work, ref, "--record", record, "--stats-file", stats)
    try:
        run_program(m, rootfs)
    finally:
        check(m.unmount(), "unmount")
    try:
        spans = sum(len(layer["artifact"]["prefetch_spans"]) for layer in json.load(open(record))["layers"])
        check(spans > 0, "the record lists no span")
        profile = json.load(open(stats))
        check(profile["fuse"]["read"]["calls"] > 0 and profile["library"]["spans_demanded"] > 0,
              f"stats: {profile}")
    except (OSError, ValueError, KeyError) as e:
        check(False, f"record or stats file: {e!r}")


def test_planned_data(work, reg, layout, rootfs):
    """Replayed: the image indexed again with test_chroot's record; --kernel hands the
    learned blocks to the kernel (store notifications into the data devices' page cache)
    before the program asks, so the same program then reads next to nothing through
    FUSE; what it and a full walk read equals umoci's extraction."""
    record, before = f"{work}/kernel-record.json", f"{work}/kernel-stats.json"
    learned, stats = f"{work}/kernel-learned", f"{work}/kernel-planned-stats.json"
    shutil.copytree(layout, learned)
    run(TOOL, "create", "--span-size", "256K", "--min-layer-size", "1M", "--prefetch-record", record, f"{learned}:img")
    ref = f"{reg.host}/kernel/learned:latest"
    run(TOOL, "push", f"{learned}:img", ref)
    m = KernelMount(work, ref, "--cache-dir", f"{work}/kplanned-cache", "--stats-file", stats, "--decoded-size", "0")
    try:
        wait_for("the planned data handed over", lambda: "handed to the kernel" in m.log_text(), timeout=60)
        run_program(m, rootfs)
    finally:
        check(m.unmount(), "unmount")
    profile, recorded = json.load(open(stats)), json.load(open(before))
    reads, was = profile["fuse"]["read"]["calls"], recorded["fuse"]["read"]["calls"]
    check(profile["pushed"]["bytes"] > 0, f"nothing handed to the kernel: {profile}")
    check(reads * 10 <= was, f"{reads} FUSE reads after the hand-over, {was} when recorded")
    # Everything else still reads right next to the handed-over pages.
    m = KernelMount(work, ref, "--cache-dir", f"{work}/kplanned-cache", "--decoded-size", "0")
    try:
        compare_trees(m.dir, rootfs, "learned image, its planned data handed over", ignore_nlink={"data/hard"})
    finally:
        check(m.unmount(), "unmount")


def test_failed_mount(work, ref):
    """A mount that fails half-way (the mount point a file: overlayfs refuses it, after the
    layers are mounted) exits non-zero with a message and leaves nothing: no mount, no
    loop device, no runtime directory."""
    target = f"{work}/not-a-directory"
    open(target, "w").close()
    for loop in ((), ("--kernel-loop",)):
        p = subprocess.run([MOUNT, "--kernel", *loop, ref, target], capture_output=True, text=True, timeout=300)
        check(p.returncode == 1 and "soci-mount:" in p.stderr, f"exit {p.returncode}: {p.stderr[-300:]!r}")
        time.sleep(0.5)  # loop devices clear themselves once their last user is gone
        left = [line for line in subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout.splitlines()
                if RUNTIME in line]
        check(not leftover_mounts(work) and not runtime_dirs() and not left,
              f"left: mounts {leftover_mounts(work)}, runtime {runtime_dirs()}, loops {left}")


def test_killed(work, ref, rootfs):
    m = KernelMount(work, ref)
    at = m.dir
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    m.log.close()
    check(mounted(at) and runtime_dirs(), "a killed soci-mount leaves its mounts (as any killed mounter does)")
    try:
        os.listdir(os.path.join(at, "data"))
        open(os.path.join(at, "data/more"), "rb").read()
        check(False, "reads of a dead mount's data succeeded")
    except OSError as e:
        check(e.errno in (errno.EIO, errno.ENOTCONN), f"dead mount: errno {e.errno}")
    m2 = KernelMount(work, ref, at=at)
    try:
        check("did not stop cleanly" in m2.log_text(), f"no cleanup noted: {m2.log_text()[-300:]}")
        check(open(m2.path("data/f10"), "rb").read() == open(f"{rootfs}/data/f10", "rb").read(), "read")
    finally:
        check(m2.unmount(), "unmount")
    check(not leftover_mounts(work), f"left mounted: {leftover_mounts(work)}")
    # SIGTERM is a clean stop too.
    m3 = KernelMount(work, ref)
    m3.proc.send_signal(signal.SIGTERM)
    check(m3.proc.wait(timeout=30) == 0, "SIGTERM: exit status")
    m3.log.close()
    check(not mounted(m3.dir) and not runtime_dirs(), "SIGTERM takes everything down")


def test_loop(work, ref, rootfs):
    m = KernelMount(work, ref, "--kernel-loop")
    try:
        loops = [line for line in open("/proc/self/mountinfo") if "/dev/loop" in line and "erofs" in line]
        check(len(loops) == 3, f"erofs over loop devices: {len(loops)}")
        compare_trees(m.dir, rootfs, "kernel tree over loop devices", ignore_nlink={"data/hard"})
    finally:
        check(m.unmount(), "unmount")
    time.sleep(0.5)  # loop devices clear themselves once their mounts are gone
    left = [line for line in subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout.splitlines()
            if RUNTIME in line]
    check(not left, f"loop devices left: {left}")


def test_formats(work, reg, layout, rootfs):
    for kind, variant in (("zstd", lambda: test_image.zstd_variant(work, layout, TOOL)),
                          ("estargz", lambda: test_image.estargz_variant(work, layout)),
                          ("zstd:chunked", lambda: test_image.zstd_chunked_variant(work, layout))):
        vlayout = variant()
        ref = f"{reg.host}/kernel/{kind.replace(':', '-')}:latest"
        run(TOOL, "push", f"{vlayout}:img", ref)
        m = KernelMount(work, ref)
        try:
            compare_trees(m.dir, rootfs, f"{kind} kernel tree", ignore_nlink={"data/hard"})
        finally:
            check(m.unmount(), "unmount")


def test_many_files(work):
    """The 100,502-entry image: find lists what the tar holds, and the whole tree (types,
    modes, owners, sizes, times, every byte) equals umoci's extraction of it."""
    layout, _, listing = many_files.make_layout(work)
    rootfs = f"{work}/many-umoci"  # unpacked before indexing: umoci reads single-manifest tags only
    run("umoci", "unpack", "--image", f"{layout}:img", rootfs)
    run(TOOL, "create", "--min-layer-size", "0", f"{layout}:img")
    m = KernelMount(work, f"{layout}:img", "--no-background-fetch")
    try:
        start = time.time()
        got = many_files.find_listing(m.dir)
        took = time.time() - start
        missing, extra = set(listing) - set(got), set(got) - set(listing)
        check(not missing and not extra, f"find: {len(missing)} missing, {len(extra)} extra")
        wrong = [p for p in listing if p in got and got[p] != listing[p]]
        check(not wrong, f"find: {len(wrong)} entries differ, e.g. {wrong[:3]}")
        n = compare_trees(m.dir, f"{rootfs}/rootfs", "100,502 entries")
        print(f"     {len(listing)} entries: find {took:.2f} s through the kernel; {n} identical to umoci unpack")
    finally:
        check(m.unmount(), "unmount")
    shutil.rmtree(rootfs, ignore_errors=True)


def main():
    global TOOL, MOUNT, RUNTIME
    TOOL, MOUNT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    test_mount.TOOL, test_mount.MOUNT = TOOL, MOUNT
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse") or shutil.which("fsck.erofs") is None:
        print("SKIP: needs root, /dev/fuse and fsck.erofs (ci/deps.sh installs erofs-utils)")
        return 77
    if "erofs" not in open("/proc/filesystems").read():
        print("SKIP: this kernel has no EROFS")
        return 77
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        RUNTIME = os.path.join(work, "run")
        os.environ["SOCI_MOUNT_RUNTIME_DIR"] = RUNTIME
        only = os.environ.get("KERNEL_TEST_ONLY")  # a case's name starts so: run just those (debugging)
        cases = [("reference vectors: fsck.erofs, kernel mount vs tarfile", lambda: test_vectors(work))]
        reg = None
        if registry_fixture.available() and shutil.which("umoci"):
            layout, rootfs = test_image.build(work, TOOL)
            reg = registry_fixture.Registry(work)
            ref = f"{reg.host}/kernel/test:latest"
            run(TOOL, "push", f"{layout}:img", ref)
            cases += [
                ("soci-mount --kernel: tree vs umoci unpack, kept images, fsck.erofs, umount",
                 lambda: test_tree(work, ref, rootfs)),
                ("decoded data devices kept, mounted, checked", lambda: test_decoded(work, ref, rootfs)),
                ("a program run from the kernel tree; --record, --stats-file", lambda: test_chroot(work, ref, rootfs)),
                ("learned: the planned data handed to the kernel", lambda: test_planned_data(work, reg, layout, rootfs)),
                ("a mount failing half-way leaves nothing", lambda: test_failed_mount(work, ref)),
                ("registry down mid-read: EIO, then back",
                 lambda: test_mount.test_registry_outage(work, reg, ref, rootfs, KernelMount, "--no-background-fetch")),
                ("SIGKILL, then a new mount at the same place; SIGTERM", lambda: test_killed(work, ref, rootfs)),
                ("loop devices (--kernel-loop)", lambda: test_loop(work, ref, rootfs)),
                ("zstd, eStargz and zstd:chunked images", lambda: test_formats(work, reg, layout, rootfs)),
                ("100,000 files", lambda: test_many_files(work)),
            ]
        else:
            print("note: docker-registry or umoci missing: soci-mount --kernel cases not run")
        try:
            return run_cases([c for c in cases if not only or c[0].startswith(only)])
        finally:
            if reg:
                reg.stop()
            for point in reversed(leftover_mounts(work)):
                subprocess.run(["umount", "-l", point], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
