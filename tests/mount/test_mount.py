#!/usr/bin/env python3
"""Real FUSE mounts with soci-mount: a three-layer image (whiteouts, opaque directories,
links, devices, xattrs, a small layer without a zTOC) pushed to a loopback
docker-registry, mounted, and compared entry by entry and byte by byte with `umoci
unpack` of the same image; a program run from the mount with chroot; many threads reading
at once; the registry killed mid-read; a corrupted cache directory; background fetching;
unmounting by fusermount3 -u and by signals.

Usage: test_mount.py SOCI_INDEX SOCI_MOUNT
"""
import errno
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "registry"))
from disk_store import intact, stored_spans  # noqa: E402
from pyharness import check, run, run_cases  # noqa: E402
import fault_proxy  # noqa: E402
import many_files  # noqa: E402
import registry_fixture  # noqa: E402
import test_image  # noqa: E402

TOOL = MOUNT = None


def mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


class Mount:
    """soci-mount in the foreground as a child (its log kept), or daemonized. Subclasses
    (test_kernel.py's) change the options every mount takes, when it is ready, and how it
    is unmounted."""
    extra = ()
    prefix = "mnt-"
    unmount_command = ("fusermount3", "-u")

    def __init__(self, work, image, *opts, daemon=False, at=None):
        self.dir = at or tempfile.mkdtemp(dir=work, prefix=self.prefix)
        self.log_path = self.dir + ".log"
        self.proc = None
        args = [MOUNT, *self.extra, *opts, image, self.dir]
        if daemon:
            p = subprocess.run(args, capture_output=True, text=True, timeout=300)
            if p.returncode != 0 or not self.ready():
                raise SystemExit(f"soci-mount failed ({p.returncode}): {p.stderr}")
            return
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([MOUNT, "-f", *self.extra, *opts, image, self.dir], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while not self.ready():
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"soci-mount did not mount: {open(self.log_path).read()}")
            time.sleep(0.05)

    def ready(self):
        return mounted(self.dir)

    def gone(self):
        """Nothing of this mount is left."""
        return not mounted(self.dir)

    def path(self, rel=""):
        return os.path.join(self.dir, rel)

    def log_text(self):
        return open(self.log_path).read() if os.path.exists(self.log_path) else ""

    def unmount(self):
        if mounted(self.dir):
            subprocess.run([*self.unmount_command, self.dir], capture_output=True)
        if self.proc:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.log.close()
        deadline = time.time() + 30
        while not self.gone() and time.time() < deadline:
            time.sleep(0.05)
        return self.gone()


def in_threads(fn, count):
    """fn(0) ... fn(count - 1), each on its own thread, all at once; back when all are done."""
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def xattrs(path):
    try:
        return {k: os.getxattr(path, k, follow_symlinks=False) for k in os.listxattr(path, follow_symlinks=False)}
    except OSError as e:
        return f"error {e.errno}"


def describe(root):
    """Everything comparable about a tree: {relative path: attributes}, file bytes hashed."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            d = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid,
                 "gid": st.st_gid, "xattrs": xattrs(p)}
            if stat.S_ISREG(st.st_mode):
                d.update(size=st.st_size, nlink=st.st_nlink, mtime=int(st.st_mtime),
                         sha256=hashlib.sha256(open(p, "rb").read()).hexdigest())
            elif stat.S_ISLNK(st.st_mode):
                d.update(target=os.readlink(p), size=st.st_size)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                d.update(rdev=(os.major(st.st_rdev), os.minor(st.st_rdev)))
            out[os.path.relpath(p, root)] = d
    return out


def compare_trees(mnt, rootfs, what, ignore_nlink=()):
    got, want = describe(mnt), describe(rootfs)
    for p in ignore_nlink:
        for d in (got.get(p, {}), want.get(p, {})):
            d.pop("nlink", None)
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    check(not missing, f"{what}: missing from the mount: {missing[:10]}")
    check(not extra, f"{what}: not in umoci's extraction: {extra[:10]}")
    bad = [(p, got[p], want[p]) for p in sorted(set(got) & set(want)) if got[p] != want[p]]
    check(not bad, f"{what}: {len(bad)} entries differ, e.g. {bad[:3]}")
    check(len(want) > 60, f"{what}: only {len(want)} entries compared")
    return len(want)


def test_tree(work, ref, rootfs):
    m = Mount(work, ref, daemon=True)  # returns once mounted, serves from the background
    try:
        n = compare_trees(m.dir, rootfs, "whole tree")
        print(f"     {n} entries identical to umoci unpack")
        # What overlay semantics promise, spelled out.
        for gone in ("del", "gone/x", "opq/a", "opq/sub", "opq/c", "data/f00"):
            check(not os.path.lexists(m.path(gone)), f"{gone} should be deleted")
        check(sorted(os.listdir(m.path("opq"))) == [], f"opq: {os.listdir(m.path('opq'))}")
        check(os.listdir(m.path("gone")) == ["fresh"], "gone/ recreated")
        check(open(m.path("data/hard"), "rb").read() != open(m.path("data/f02"), "rb").read(), "hard link kept")
        st = os.statvfs(m.dir)
        check(st.f_flag & os.ST_RDONLY and st.f_files > 60, f"statfs {st}")
    finally:
        check(m.unmount(), "fusermount3 -u unmounts")


def test_errors(work, ref):
    # --prefetch resolves paths inside the library (soci_fs_resolve): an absolute symlink,
    # one climbing past the root (it stays inside), a loop (ELOOP, logged, not fatal).
    m = Mount(work, ref, "--prefetch", "/data/abs", "--prefetch", "data/escape", "--prefetch", "data/loop1",
              "--prefetch", "data/rel/inside")
    try:
        # Once mounted, the daemon keeps CAP_SYS_ADMIN alone (to unmount) and no_new_privs.
        status = dict(line.split(":", 1) for line in open(f"/proc/{m.proc.pid}/status"))
        check(int(status["CapEff"], 16) == 1 << 21 and int(status["CapBnd"], 16) == 1 << 21,
              f"capabilities: effective {status['CapEff'].strip()}, bounding {status['CapBnd'].strip()}")
        check(status["NoNewPrivs"].strip() == "1", "no_new_privs is not set")
        warnings = [line for line in m.log_text().splitlines() if "prefetch" in line]
        check(len(warnings) == 1 and "data/loop1" in warnings[0] and "symbolic links" in warnings[0],
              f"prefetch warnings: {warnings}")
        for path, want in (("nope", errno.ENOENT), ("data/f01/x", errno.ENOTDIR), ("data/loop1", errno.ELOOP),
                           ("data/dangling", errno.ENOENT)):
            try:
                os.stat(m.path(path))
                check(False, f"stat {path} succeeded")
            except OSError as e:
                check(e.errno == want, f"stat {path}: errno {e.errno}, want {want}")
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_CREAT):
            try:
                os.close(os.open(m.path("data/f05"), flags))
                check(False, f"open with {flags} succeeded")
            except OSError as e:
                check(e.errno == errno.EROFS, f"open for writing: errno {e.errno}")
        # Targets are served as stored; resolving them is the kernel's (see the chroot case).
        check(os.readlink(m.path("data/escape")) == "../../../../etc/hostname", "readlink")
    finally:
        check(m.unmount(), "unmount")


def test_chroot(work, ref, rootfs):
    m = Mount(work, ref)
    try:
        p = subprocess.run(["chroot", m.dir, "/bin/sh", "-c",
                            "cat /etc/hostname; ls /data | wc -l; sha256sum /data/big; env -i /usr/bin/true && echo ok;"
                            " cat /data/escape"],
                           capture_output=True, text=True, timeout=120)
        want_big = hashlib.sha256(open(f"{rootfs}/data/big", "rb").read()).hexdigest()
        lines = p.stdout.split("\n")
        check(p.returncode == 0, f"chroot: {p.returncode} {p.stderr}")
        check(lines[:1] == ["soci-test"], f"chroot output {p.stdout!r}")
        check(len(lines) > 3 and lines[1].strip() == str(len(os.listdir(f"{rootfs}/data"))), f"ls: {p.stdout!r}")
        check(len(lines) > 3 and lines[2].startswith(want_big) and lines[3] == "ok", f"sha256sum: {p.stdout!r}")
        check(lines[4:5] == ["soci-test"], f"a symlink climbing past the root stays in the image: {p.stdout!r}")
    finally:
        check(m.unmount(), "unmount")


def test_threads(work, ref, rootfs):
    m = Mount(work, ref, "--memory-cache", "2M")  # small: spans are evicted and fetched again
    files = [f"data/{n}" for n in sorted(os.listdir(f"{rootfs}/data")) if os.path.isfile(f"{rootfs}/data/{n}")
             and not os.path.islink(f"{rootfs}/data/{n}")]
    want = {f: open(f"{rootfs}/{f}", "rb").read() for f in files}
    bad = []

    def reader(seed):
        rnd = random.Random(seed)
        for _ in range(60):
            f = rnd.choice(files)
            data = want[f]
            off, n = rnd.randint(0, len(data)), rnd.randint(1, 300000)
            fd = os.open(m.path(f), os.O_RDONLY)
            try:
                got = os.pread(fd, n, off)
            finally:
                os.close(fd)
            if got != data[off:off + n]:
                bad.append((f, off, n))

    try:
        in_threads(reader, 16)
        check(not bad, f"{len(bad)} reads differ, e.g. {bad[:3]}")
    finally:
        check(m.unmount(), "unmount")


def test_registry_outage(work, reg, ref, rootfs, mount=Mount, *opts):
    """The registry stopped mid-read: the reader gets EIO in bounded time, the log names the
    layer and spans, metadata still answers, and once it is back the same read succeeds."""
    m = mount(work, ref, "--memory-cache", "1M", *opts)
    try:
        check(open(m.path("data/f10"), "rb").read() == open(f"{rootfs}/data/f10", "rb").read(), "read before")
        os.listdir(m.path("data"))
        reg.stop()
        start = time.time()
        try:
            with open(m.path("data/more"), "rb") as f:
                f.seek(2 << 20)
                f.read(4096)
            check(False, "a read with the registry down succeeded")
        except OSError as e:
            check(e.errno == errno.EIO, f"registry down: errno {e.errno}, want EIO")
        check(time.time() - start < 90, f"the failed read took {time.time() - start:.0f} s")
        check(len(os.listdir(m.path("data"))) > 10 and os.stat(m.path("data/more")).st_size > 0,
              "metadata needs no registry")
        log = m.log_text()
        check("layer sha256:" in log and "spans" in log, f"no log line naming layer and spans: {log[-500:]!r}")
        check(mounted(m.dir) and m.proc.poll() is None, "the mount survives a failed fetch")
        reg.start()
        with open(m.path("data/more"), "rb") as f:
            f.seek(2 << 20)
            got = f.read(4096)
        with open(f"{rootfs}/data/more", "rb") as f:
            f.seek(2 << 20)
            check(got == f.read(4096), "after the registry returns, the same read succeeds")
    finally:
        if reg.proc.poll() is not None:
            reg.start()
        check(m.unmount(), "unmount")


def test_cache_dir(work, ref, rootfs, layout):
    cache = f"{work}/cache"
    # Background fetching fills the store with every span of both indexed layers; with
    # nothing read, not in the first 3 s (an engine starts its container meanwhile).
    m = Mount(work, ref, "--cache-dir", cache, "--background-fetch")
    time.sleep(1)
    check(len(stored_spans(cache)) == 0, "background fetching began within 1 s of mounting, nothing read")
    want_spans = set()  # spans are stored by digest: identical ones once
    index = json.loads(run(TOOL, "index", "list", "--json", layout).stdout)[0]["digest"]
    info = json.loads(run(TOOL, "index", "info", "--json", f"{layout}@{index}").stdout)
    for z in info["ztocs"]:
        zinfo = json.loads(run(TOOL, "ztoc", "info", "--json", f"{layout}/blobs/sha256/{z['digest'][7:]}").stdout)
        want_spans |= set(zinfo["span_digests"])
    want_spans = len(want_spans)
    deadline = time.time() + 120
    while len(stored_spans(cache)) < want_spans and time.time() < deadline:
        time.sleep(0.2)
    spans = stored_spans(cache)
    check(len(spans) == want_spans, f"background fetch stored {len(spans)} of {want_spans} spans")
    check(all(intact(p) for p in spans),
          "a stored span does not match its digest")
    check(m.unmount(), "unmount")

    # Damage the store between runs: flipped bytes, a truncation, a deletion, a bad zTOC.
    rnd = random.Random(3)
    for p in rnd.sample(spans, 4):
        with open(p, "r+b") as f:
            f.seek(rnd.randint(0, max(0, os.path.getsize(p) - 1)))
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))
    os.truncate(spans[0], 10)
    os.remove(spans[1])
    blobs = f"{cache}/soci-cache-v1/blobs/sha256"
    for name in os.listdir(blobs):
        with open(f"{blobs}/{name}", "r+b") as f:
            f.write(b"garbage")
    m = Mount(work, ref, "--cache-dir", cache, "--no-background-fetch")
    try:
        compare_trees(m.dir, rootfs, "over a corrupted cache")
    finally:
        check(m.unmount(), "unmount")
    spans = stored_spans(cache)
    check(all(intact(p) for p in spans),
          "a corrupt span was served or kept")
    for name in os.listdir(blobs):
        check(hashlib.sha256(open(f"{blobs}/{name}", "rb").read()).hexdigest() == name, "a corrupt zTOC was kept")


def test_shared_cache(work, ref, rootfs):
    """Two mounts (two processes) share one small cache directory while both read
    everything: entries are evicted under them, yet every byte read is right and the
    store stays whole and within its bound."""
    cache = f"{work}/shared-cache"
    mounts = [Mount(work, ref, "--cache-dir", cache, "--cache-size", "3M", "--memory-cache", "1M",
                    "--no-background-fetch") for _ in range(2)]
    results = {}

    def read_all(i):
        results[i] = describe(mounts[i].dir)

    try:
        in_threads(read_all, 2)
        want = describe(rootfs)
        for i in range(2):
            check(results.get(i) == want, f"mount {i} read something else than umoci's extraction")
    finally:
        for m in mounts:
            check(m.unmount(), "unmount")
    spans = stored_spans(cache)
    check(all(intact(p) for p in spans),
          "a torn or wrong span in the shared store")
    usage = int(open(f"{cache}/soci-cache-v1/usage").read())
    on_disk = sum(os.path.getsize(p) for p in spans) + sum(
        os.path.getsize(f"{cache}/soci-cache-v1/blobs/sha256/{b}") for b in os.listdir(f"{cache}/soci-cache-v1/blobs/sha256"))
    check(on_disk <= 3 << 20, f"store holds {on_disk} bytes, bound 3 MiB")
    check(abs(usage - on_disk) < 1 << 20, f"usage file says {usage}, the store holds {on_disk}")


def test_signals(work, ref):
    for sig in (signal.SIGTERM, signal.SIGINT):
        m = Mount(work, ref)
        os.listdir(m.dir)
        m.proc.send_signal(sig)
        try:
            rc = m.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"{sig.name}: exit status {rc}")
        check(not mounted(m.dir), f"{sig.name}: still mounted")
        m.unmount()


def test_zstd(work, reg, layout, rootfs):
    """The same image as zstd layers (pzstd for the big one: lazy; zstd for the others: one
    frame each), pushed and mounted: identical to umoci's extraction of the gzip image,
    whose tars are the same bytes."""
    if shutil.which("pzstd") is None:
        check(False, "pzstd missing (ci/deps.sh installs zstd)")
        return
    zlayout = test_image.zstd_variant(work, layout, TOOL)
    ref = f"{reg.host}/mount/zstd:latest"
    run(TOOL, "push", f"{zlayout}:img", ref)
    info = json.loads(run(TOOL, "index", "info", "--json", ref).stdout)
    spans = [json.loads(run(TOOL, "ztoc", "info", "--json", f"{reg.host}/mount/zstd@{z['digest']}").stdout)
             for z in info["ztocs"]]
    check(any(z["compression_algorithm"] == "zstd" and z["max_span_id"] >= 1 for z in spans),
          f"no multi-span zstd zTOC: {[(z['compression_algorithm'], z['max_span_id']) for z in spans]}")
    m = Mount(work, ref)
    try:
        compare_trees(m.dir, rootfs, "zstd layers")
    finally:
        check(m.unmount(), "unmount")


def span_extents(layout, ztoc_digest):
    """(first, last) compressed byte of each span of a zTOC: from its checkpoint to the next's
    (the last span to the gzip trailer)."""
    info = json.loads(run(TOOL, "ztoc", "info", "--json", f"{layout}/blobs/sha256/{ztoc_digest[7:]}").stdout)
    starts = [cp["in"] for cp in info["checkpoints"]] + [info["compressed_archive_size"] - 8]
    return [(starts[i], max(starts[i], starts[i + 1] - 1)) for i in range(len(starts) - 1)]


def test_fetched_once(work, reg, layout, rootfs):
    """Reads alongside background fetching, through a proxy that logs every range: the
    whole tree reads right, background fetching stores every span, and no span is fetched
    twice (one a read joins in between two it needs, being small, aside: never one a
    request starts or ends with). --stats-file and --record are written on unmount: the
    record lists, per indexed layer, the spans the reads needed."""
    proxy = fault_proxy.FaultProxy(reg.port)
    cache, stats, record = f"{work}/once-cache", f"{work}/once-stats.json", f"{work}/once-record.json"
    index = json.loads(run(TOOL, "index", "list", "--json", layout).stdout)[0]["digest"]
    ztocs = [z for z in json.loads(run(TOOL, "index", "info", "--json", f"{layout}@{index}").stdout)["ztocs"]
             if z["kind"] == "ztoc"]
    extents = {z["layer_digest"]: span_extents(layout, z["digest"]) for z in ztocs}
    try:
        m = Mount(work, f"{proxy.host}/mount/test:latest", "--cache-dir", cache, "--background-fetch",
                  "--stats-file", stats, "--record", record)
        try:
            compare_trees(m.dir, rootfs, "read alongside background fetching")
            want = len({d for z in ztocs for d in json.loads(run(
                TOOL, "ztoc", "info", "--json", f"{layout}/blobs/sha256/{z['digest'][7:]}").stdout)["span_digests"]})
            deadline = time.time() + 120
            while len(stored_spans(cache)) < want and time.time() < deadline:
                time.sleep(0.2)
            check(len(stored_spans(cache)) == want, f"background fetch stored {len(stored_spans(cache))} of {want}")
        finally:
            check(m.unmount(), "unmount")
    finally:
        proxy.stop()
    for layer, spans in extents.items():
        ranges = [(a, b) for path, a, b in proxy.ranges if path.endswith(layer)]
        for s, (first, last) in enumerate(spans):
            covering = [(a, b) for a, b in ranges if a <= first and last <= b]
            at_an_end = [r for r in covering if not (r[0] < first - 1 and last + 1 < r[1])]
            check(len(covering) < 2 or not at_an_end, f"layer {layer[:19]} span {s} fetched by {covering}")
    profile = json.load(open(stats))
    check(profile["fuse"]["read"]["calls"] > 0 and profile["library"]["bytes_fetched"] > 0, f"stats {profile}")
    # The daemon's own use, its parent's before the fork included: it read every file.
    check(profile["process"]["cpu_ns"] > 0 and profile["process"]["minor_faults"] > 0, f"stats {profile}")
    doc = json.load(open(record))
    recorded = {x["layer"]: x for x in doc["layers"]}
    check(set(recorded) <= set(extents) and recorded, f"record layers {sorted(recorded)}")
    for layer, x in recorded.items():
        spans = set().union(*(range(r["start_span"], r["end_span"] + 1) for r in x["artifact"]["prefetch_spans"]))
        # Every file was read: every span holding file bytes was needed.
        check(spans and max(spans) < len(extents[layer]), f"layer {layer[:19]}: recorded spans {sorted(spans)}")

    # Learned: the image indexed again with the record (the same span size, so the same
    # zTOCs) carries it as prefetch artifacts; a daemonized mount fetches them before it
    # forks and decodes them ahead of reads after: the tree reads right, no hang.
    learned = f"{work}/learned-layout"
    shutil.copytree(layout, learned)
    p = run(TOOL, "create", "--span-size", "256K", "--min-layer-size", "1M", "--prefetch-record", record,
            f"{learned}:img")
    check(p.stdout.count(b"-> prefetch") == len(recorded), f"artifacts written: {p.stdout!r}")
    run(TOOL, "push", f"{learned}:img", f"{reg.host}/mount/learned:latest")
    m = Mount(work, f"{reg.host}/mount/learned:latest", "--cache-dir", f"{work}/learned-cache", daemon=True)
    try:
        compare_trees(m.dir, rootfs, "learned image, daemonized")
    finally:
        check(m.unmount(), "unmount")


def test_own_toc(work, reg, layout, rootfs, kind):
    """The image converted to eStargz or zstd:chunked (encoders in chunked_formats.py), with
    no SOCI index: soci_image_open picks each layer's own TOC (index info says so), one
    file read fetches a small part of the layers, and the whole tree equals umoci's
    extraction of the gzip image."""
    variant = test_image.estargz_variant if kind == "estargz" else test_image.zstd_chunked_variant
    clayout = variant(work, layout)
    ref = f"{reg.host}/mount/{kind.replace(':', '-')}:latest"
    run(TOOL, "push", f"{clayout}:img", ref)
    info = json.loads(run(TOOL, "index", "info", "--json", ref).stdout)
    paths = [layer["lazy_path"] for layer in info["layers"]]
    want = ["estargz", "estargz", "whole"] if kind == "estargz" else ["zstd:chunked"] * 3
    check(info["digest"] == "" and paths == want, f"index info: SOCI index {info['digest']!r}, layers {paths}")
    total = sum(layer["size"] for layer in info["layers"])
    cache = f"{work}/cache-{kind.replace(':', '-')}"
    m = Mount(work, ref, "--cache-dir", cache, "--no-background-fetch")
    try:
        with open(f"{m.dir}/bin/sh", "rb") as f:
            f.read()
        fetched = sum(os.path.getsize(p) for p in stored_spans(cache))
        check(0 < fetched < total // 4, f"reading /bin/sh stored {fetched} of {total} layer bytes")
        compare_trees(m.dir, rootfs, kind)
    finally:
        check(m.unmount(), "unmount")


def test_layout(work, layout, rootfs):
    """An OCI layout on disk mounts the same way."""
    m = Mount(work, f"{layout}:img")
    try:
        compare_trees(m.dir, rootfs, "from the OCI layout")
    finally:
        check(m.unmount(), "unmount")


def test_corrupt_ztoc(work, reg, ref, layout):
    """A registry serving one layer's zTOC with a byte changed (the layers' zTOCs are fetched
    side by side): soci-mount refuses to mount and names that zTOC's layer; the image mounts
    again once the registry serves it right."""
    index = json.loads(run(TOOL, "index", "list", "--json", layout).stdout)[0]["digest"]
    ztocs = [z for z in json.loads(run(TOOL, "index", "info", "--json", f"{layout}@{index}").stdout)["ztocs"]
             if z["kind"] == "ztoc"]
    check(len(ztocs) >= 2, f"the test image has {len(ztocs)} zTOC(s); two or more are fetched side by side")
    victim = ztocs[-1]
    hexd = victim["digest"][7:]
    stored = f"{reg.dir}/data/docker/registry/v2/blobs/sha256/{hexd[:2]}/{hexd}/data"
    good = open(stored, "rb").read()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    open(stored, "wb").write(bytes(bad))
    try:
        p = subprocess.run([MOUNT, ref, tempfile.mkdtemp(dir=work)], capture_output=True, text=True, timeout=120)
        check(p.returncode != 0 and f"zTOC of layer {victim['layer_digest']}" in p.stderr,
              f"a corrupt zTOC: status {p.returncode}, {p.stderr.strip()!r}")
    finally:
        open(stored, "wb").write(good)
    m = Mount(work, ref)
    check(m.unmount(), "mounted once the zTOC is served right")


def test_many_files(work):
    """100,000 files: `find` lists them all, types and sizes as the tar has them, without
    fetching a single span (getattr and readdir come from the zTOC alone)."""
    layout, _, listing = many_files.make_layout(work)
    run(TOOL, "create", "--min-layer-size", "0", f"{layout}:img")
    cache = f"{work}/many-cache"
    m = Mount(work, f"{layout}:img", "--cache-dir", cache, "--no-background-fetch")
    try:
        start = time.time()
        got = many_files.find_listing(m.dir)
        took = time.time() - start
        missing, extra = set(listing) - set(got), set(got) - set(listing)
        check(not missing and not extra, f"find: {len(missing)} missing ({sorted(missing)[:3]}), {len(extra)} extra")
        wrong = [p for p in listing if p in got and got[p] != listing[p]]
        check(not wrong, f"find: {len(wrong)} entries differ, e.g. {wrong[:3]}")
        check(not stored_spans(cache), f"find fetched {len(stored_spans(cache))} span(s)")
        rss = many_files.rss_kib(m.proc.pid)
        print(f"  {len(listing)} entries: find {took:.2f} s; soci-mount resident {rss / 1024:.1f} MiB")
        no_attributes(work, m, next(p for p, (kind, _) in listing.items() if kind == "f"), listing)
    finally:
        check(m.unmount(), "unmount")


def no_attributes(work, m, path, listing):
    """A tree without extended attributes: the kernel stops asking soci-mount for them and
    answers EOPNOTSUPP itself, and overlayfs over the mount still reads and copies up."""
    for what, call in (("getxattr", lambda: os.getxattr(m.path(path), "user.x")),
                       ("listxattr", lambda: os.listxattr(m.path(path)))):
        try:
            call()
            check(False, f"{what} on an image without attributes succeeded")
        except OSError as e:
            check(e.errno == errno.EOPNOTSUPP, f"{what}: errno {e.errno}, want EOPNOTSUPP")
    merged, upper = tempfile.mkdtemp(dir=work), tempfile.mkdtemp(dir=work)
    os.makedirs(f"{upper}/diff")
    os.makedirs(f"{upper}/work")
    run("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={m.dir},upperdir={upper}/diff,workdir={upper}/work",
        merged)
    try:
        want = open(m.path(path), "rb").read()
        check(len(want) == listing[path][1], f"{path}: {len(want)} bytes, the tar has {listing[path][1]}")
        check(open(f"{merged}/{path}", "rb").read() == want, f"{path} through overlayfs")
        with open(f"{merged}/{path}", "ab") as f:  # copy-up lists the lower file's attributes
            f.write(b"more\n")
        check(open(f"{upper}/diff/{path}", "rb").read() == want + b"more\n", "copied up")
    finally:
        subprocess.run(["umount", merged])


def main():
    global TOOL, MOUNT
    TOOL, MOUNT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        print("SKIP: needs root, /dev/fuse and fusermount3 (ci/deps.sh installs fuse3)")
        return 77
    if not registry_fixture.available() or shutil.which("umoci") is None:
        print("SKIP: docker-registry or umoci missing (ci/deps.sh installs them)")
        return 77
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        layout, rootfs = test_image.build(work, TOOL)
        reg = registry_fixture.Registry(work)
        ref = f"{reg.host}/mount/test:latest"
        run(TOOL, "push", f"{layout}:img", ref)
        try:
            return run_cases([
                ("whole tree vs umoci unpack (daemon, fusermount3 -u)", lambda: test_tree(work, ref, rootfs)),
                ("errno values", lambda: test_errors(work, ref)),
                ("a corrupt zTOC from the registry", lambda: test_corrupt_ztoc(work, reg, ref, layout)),
                ("a program run from the mount", lambda: test_chroot(work, ref, rootfs)),
                ("16 threads reading at random", lambda: test_threads(work, ref, rootfs)),
                ("registry down mid-read, then back", lambda: test_registry_outage(work, reg, ref, rootfs)),
                ("cache directory: background fill, corruption", lambda: test_cache_dir(work, ref, rootfs, layout)),
                ("reads alongside background fetching: each span fetched once; stats, record",
                 lambda: test_fetched_once(work, reg, layout, rootfs)),
                ("two processes sharing a small cache directory", lambda: test_shared_cache(work, ref, rootfs)),
                ("SIGTERM and SIGINT unmount", lambda: test_signals(work, ref)),
                ("an OCI layout", lambda: test_layout(work, layout, rootfs)),
                ("100,000 files: find fetches no span; no attributes asked for", lambda: test_many_files(work)),
                ("zstd layers, lazily", lambda: test_zstd(work, reg, layout, rootfs)),
                ("eStargz image, no SOCI index", lambda: test_own_toc(work, reg, layout, rootfs, "estargz")),
                ("zstd:chunked image, no SOCI index",
                 lambda: test_own_toc(work, reg, layout, rootfs, "zstd:chunked")),
            ])
        finally:
            reg.stop()
            for line in open("/proc/self/mountinfo"):
                if line.split()[4].startswith(work):
                    subprocess.run(["fusermount3", "-u", "-z", line.split()[4]], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
