#!/usr/bin/env python3
"""soci-store with the real engine: Debian's podman (overlay driver, runc) pulls and runs
images from the loopback registry through soci-store as its additional layer store, and
everything a container sees is compared with what the same image gives after a normal
pull by a second, independent podman storage.

The image (tests/mount/test_image.py, built with umoci from this machine's programs) has
three layers: two with zTOCs, whiteouts and an opaque directory, and a small one without
(the engine pulls that one itself); its SOCI index carries a prefetch artifact. The registry's own access log tells which blobs were
fetched whole.

Usage: test_store.py SOCI_INDEX SOCI_STORE
"""
import base64
import errno
import glob
import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "mount"))
sys.path.insert(0, os.path.join(HERE, "..", "registry"))
import engine_fixture  # noqa: E402
from pyharness import check, run, run_cases  # noqa: E402
import registry_fixture  # noqa: E402
import test_image  # noqa: E402

# Files the engine puts into every container itself (their bytes differ per container).
ENGINE_FILES = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/run/.containerenv"}
LISTING = "find / -xdev -printf '%y %m %U %G %s %p -> %l\\n'; find / -xdev -type f -exec sha256sum {} +"
SHA256_LINE = re.compile(r"^([0-9a-f]{64})  (/.*)$")


class Setup:
    pass


S = Setup()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def tree(podman, ref):
    """What a container of ref sees: every path's type, mode, owner, size, link target and
    (for files) sha256, the engine's own files left out. None if the run failed."""
    p = podman("run", "--rm", "--network=none", ref, "/bin/sh", "-c", LISTING)
    if not check(p.returncode == 0, f"podman run {ref}: {p.stderr.strip()[-600:]}"):
        return None
    out = {}
    for line in p.stdout.splitlines():
        sha = SHA256_LINE.match(line)
        if sha:
            digest, path = sha.groups()
            if path not in ENGINE_FILES:
                out[path] = out.get(path, "") + " " + digest
        else:
            kind, mode, uid, gid, size, rest = line.split(" ", 5)
            path = rest.split(" -> ", 1)[0]
            if path not in ENGINE_FILES:
                out[path] = f"{kind} {mode} {uid}:{gid} {size if kind == 'f' else ''} {rest}" + out.get(path, "")
    return out


def compare_trees(lazy, normal, what):
    diff = [(p, lazy.get(p), normal.get(p)) for p in sorted(set(lazy) | set(normal)) if lazy.get(p) != normal.get(p)]
    check(lazy == normal, f"{what}{len(lazy)} paths through the store, {len(normal)} after a normal pull; "
                          f"(path, store, normal pull): {diff[:5]}")


def blob_gets(since):
    """(digest, status) of every blob GET the registry answered since log offset `since`."""
    with open(f"{S.reg.dir}/log", errors="replace") as f:
        f.seek(since)
        text = f.read()
    gets = []
    for line in text.splitlines():
        if 'msg="response completed"' not in line or "http.request.method=GET" not in line:
            continue
        uri = re.search(r'http\.request\.uri="([^"]+)"', line)
        status = re.search(r"http\.response\.status=(\d+)", line)
        m = re.search(r"/blobs/(sha256:[0-9a-f]{64})", uri.group(1)) if uri else None
        if m and status:
            gets.append((m.group(1), int(status.group(1))))
    return gets


def log_mark():
    return os.path.getsize(f"{S.reg.dir}/log")


def indexed_layers(ref):
    """The layer digests the image's SOCI index has a zTOC for."""
    info = json.loads(run(S.tool, "index", "info", "--json", ref).stdout)
    return {z["layer_digest"] for z in info["ztocs"] if z["kind"] == "ztoc"}


def image_manifest(layout, tag="img"):
    index = json.load(open(f"{layout}/index.json"))
    d = next(m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    m = json.load(open(f"{layout}/blobs/sha256/{d['digest'][7:]}"))
    if "manifests" in m:
        inner = next(x for x in m["manifests"] if "artifactType" not in x)
        m = json.load(open(f"{layout}/blobs/sha256/{inner['digest'][7:]}"))
    return m


def manifest_layers(layout, tag="img"):
    return [layer["digest"] for layer in image_manifest(layout, tag)["layers"]]


def add_layer(layout, tag, new_tag, tar):
    """Tag new_tag: the image of tag with one more layer (tar, gzipped), as the OCI image
    spec lays it out (blob, config diff_ids, manifest, index.json)."""
    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(f"{layout}/blobs/sha256/{digest}", "wb") as f:
            f.write(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}
    manifest = image_manifest(layout, tag)
    config = json.load(open(f"{layout}/blobs/sha256/{manifest['config']['digest'][7:]}"))
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(tar).hexdigest())
    manifest["config"].update(put(json.dumps(config).encode()))
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                               **put(gzip.compress(tar, mtime=0))})
    manifest.pop("annotations", None)
    index = json.load(open(f"{layout}/index.json"))
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               **put(json.dumps(manifest).encode()),
                               "annotations": {"org.opencontainers.image.ref.name": new_tag}})
    with open(f"{layout}/index.json", "w") as f:
        json.dump(index, f)


def test_run_equals_normal_pull():
    mark = log_mark()
    p = S.lazy("pull", S.ref)
    check(p.returncode == 0, f"pull through the store: {p.stderr.strip()[-600:]}")
    gets = blob_gets(mark)
    indexed = indexed_layers(S.ref)
    check(len(indexed) == 2, f"the image should have two indexed layers: {indexed}")
    whole = {d for d, status in gets if status == 200}
    check(not (whole & indexed), f"indexed layers fetched whole: {whole & indexed}")
    unindexed = set(manifest_layers(S.layout)) - indexed
    check(whole >= unindexed, f"the unindexed layer was not pulled by podman: {unindexed - whole}")
    lazy = tree(S.lazy, S.ref)
    check(S.normal("pull", S.ref).returncode == 0, "normal pull")
    normal = tree(S.normal, S.ref)
    if lazy is not None and normal is not None:
        compare_trees(lazy, normal, "")
        check(len(lazy) > 80, f"only {len(lazy)} paths listed")
        # The overlay did what the image's whiteouts ask: these are gone, opq/ is opaque.
        for path, present in (("/del", False), ("/opq/a", False), ("/opq/sub", False), ("/gone/fresh", True)):
            check((path in lazy) == present, f"{path} {'missing' if present else 'not deleted'}")
        print(f"     {len(lazy)} paths identical to a normal pull; layers fetched whole: {len(whole)} "
              f"(unindexed: {len(unindexed)})")
    log = S.store.read_log()
    check(log.count("served lazily") == 2 and "the engine pulls it" in log, f"store log: {log[-800:]}")
    check("span(s) of its prefetch artifact fetched" in log, "the layer's prefetch artifact was not fetched")


def http_get(path, method="GET", port=None):
    """(status, body) of a request to a store's --listen (the shared store's by default)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port or S.listen_port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_figures_over_http():
    """--listen: GET /metrics and /status while serving, checked against the registry's log
    and the image's SOCI index."""
    status, text = http_get("/metrics")
    check(status == 200, f"GET /metrics: {status} {text[:300]}")
    values, helped = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line and not line.startswith("#"):
            name, value = line.split()
            check(re.fullmatch(r"soci_store_[a-z_]+", name) is not None, f"metric name {name!r}")
            values[name] = float(value)
    check(set(values) == helped, f"metrics without help: {set(values) ^ helped}")
    indexed = indexed_layers(S.ref)
    check(values.get("soci_store_layers") == len(indexed), f"layers served: {values.get('soci_store_layers')}, "
          f"the index has {len(indexed)}")
    # Every span the store fetched was a range request the registry answered 206.
    ranged = sum(1 for d, code in blob_gets(0) if code == 206 and d in indexed)
    check(ranged > 0 and values.get("soci_store_requests_total", 0) >= ranged,
          f"requests {values.get('soci_store_requests_total')}, the registry answered {ranged} range requests")
    for name in ("bytes_fetched_total", "spans_decoded_total", "spans_demanded_total", "bytes_served_total"):
        check(values.get(f"soci_store_{name}", 0) > 0, f"soci_store_{name}: {values.get(f'soci_store_{name}')}")
    check("soci_store_read_wait_seconds_total" in values and "soci_store_disk_corrupt_total" in values,
          "time and corruption counters missing")
    status, text = http_get("/status")
    check(status == 200, f"GET /status: {status}")
    st = json.loads(text) if status == 200 else {}
    check(S.ref in [r["name"] for r in st.get("references", [])], f"{S.ref} not in the status: {text[:300]}")
    check({layer["digest"] for layer in st.get("layers", [])} == indexed, f"status layers: {st.get('layers')}")
    check(st.get("library", {}).get("requests", 0) >= values.get("soci_store_requests_total", 0),
          "the status counts fewer requests than the metrics read before it")
    for path, method, want in (("/metrics", "POST", 405), ("/nothing", "GET", 404)):
        code, _ = http_get(path, method)
        check(code == want, f"{method} {path}: {code}, want {want}")
    # A bad address, or a port in use (this store's), fails the start before mounting.
    other = tempfile.mkdtemp(dir=S.work)
    for listen, says in (("localhost", "ADDRESS:PORT"), ("999.1.1.1:80", "not an IPv4 address"),
                         (f"127.0.0.1:{S.listen_port}", "in use")):
        p = subprocess.run([S.store_tool, "--no-disk-cache", "--listen", listen, other], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 1 and says in p.stderr, f"--listen {listen}: {p.returncode} {p.stderr.strip()}")
        check(not os.path.ismount(other), f"--listen {listen}: mounted anyway")


def test_config_file():
    """--config: "name value" lines (comments, a flag alone) before the command line's; a
    missing file is a usage error before anything is mounted."""
    port = registry_fixture.free_port()
    conf = f"{S.work}/store.conf"
    with open(conf, "w") as f:
        f.write(f"# soci-store\nno-disk-cache\nlisten = 127.0.0.1:{port}   # figures\nthreads 4\n")
    other = tempfile.mkdtemp(dir=S.work)
    store = engine_fixture.Store(S.store_tool, S.work, "--config", conf, cache="unused-cache", mountpoint=other)
    try:
        status, text = http_get("/status", port=port)
        check(status == 200 and json.loads(text)["layers"] == [], f"--config's listen not applied: {status} {text[:200]}")
    finally:
        store.stop()
    p = subprocess.run([S.store_tool, "--config", f"{S.work}/nope.conf", other], capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 2 and "nope.conf" in p.stderr, f"a missing config file: {p.returncode} {p.stderr!r}")
    check(not os.path.ismount(other), "mounted with a missing config file")


def test_shared_layer():
    """A second image on top of the first: its shared layers are served once, not fetched."""
    extra = run("tar", "-C", "/etc", "-chf", "-", "os-release", "debian_version").stdout
    add_layer(S.layout, "img", "img2", extra)
    run(S.tool, "create", "--span-size", "256K", "--min-layer-size", "1M", f"{S.layout}:img2")
    ref2 = f"{S.reg.host}/store/second:2"
    run(S.tool, "push", f"{S.layout}:img2", ref2)
    mark = log_mark()
    p = S.lazy("run", "--rm", "--network=none", ref2, "/bin/sh", "-c", "cat /os-release /data/rel/inside")
    check(p.returncode == 0 and "inside" in p.stdout and "ID=" in p.stdout,
          f"second image: {p.returncode} {p.stdout[-300:]!r} {p.stderr[-600:]}")
    shared = indexed_layers(S.ref)
    fetched = {d for d, status in blob_gets(mark) if status == 200}
    check(not (fetched & shared), f"shared layers fetched whole for the second image: {fetched & shared}")
    check(S.store.read_log().count("served lazily") == 2, "a shared layer was opened twice")


def test_pull_by_digest():
    top = run("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{S.ref}").stdout
    digest = "sha256:" + hashlib.sha256(top).hexdigest()
    by_digest = f"{S.ref.rsplit(':', 1)[0]}@{digest}"
    S.lazy.reset()  # else podman runs the image it has, pulling nothing
    mark = log_mark()
    p = S.lazy("run", "--rm", "--network=none", by_digest, "/bin/sh", "-c", "cat /keep")
    check(p.returncode == 0 and p.stdout == "kept, changed\n", f"run by digest: {p.stdout!r} {p.stderr[-600:]}")
    check(b64(by_digest) in os.listdir(S.store.dir), f"no store directory for {by_digest}")
    fetched = {d for d, status in blob_gets(mark) if status == 200}
    check(not (fetched & indexed_layers(S.ref)), "indexed layers fetched whole when pulling by digest")


def test_rmi_and_pull_again():
    # podman save reads the layers it got from the store through it: the archive loads
    # into the other podman and runs there.
    archive = f"{S.work}/saved.tar"
    check(S.lazy("pull", S.ref).returncode == 0, "pull")
    p = S.lazy("save", "--format", "oci-archive", "-o", archive, S.ref)
    check(p.returncode == 0, f"podman save: {p.stderr[-600:]}")
    S.normal.reset()
    p = S.normal("load", "-i", archive)
    loaded = p.stdout.strip().rsplit(" ", 1)[-1]
    check(p.returncode == 0, f"podman load: {p.stderr[-600:]}")
    p = S.normal("run", "--rm", "--network=none", loaded, "/bin/sh", "-c", "cat /keep /gone/fresh")
    check(p.returncode == 0 and p.stdout == "kept, changed\nfresh\n", f"the saved image: {p.stdout!r} {p.stderr[-600:]}")
    S.lazy.reset()
    check(S.lazy("images", "-q").stdout.strip() == "", "images left after rmi")
    p = S.lazy("run", "--rm", "--network=none", S.ref, "/bin/sh", "-c", "sha256sum /data/f05")
    want = hashlib.sha256(open(f"{S.rootfs}/data/f05", "rb").read()).hexdigest()
    check(p.returncode == 0 and p.stdout.startswith(want), f"after rmi: {p.stdout!r} {p.stderr[-600:]}")


def test_store_restart():
    """Stopped (SIGTERM) and started again while podman holds no container: the images
    podman has still run, their layers resolved anew."""
    status = S.store.stop()
    check(status == 0 and not S.store.mounted(), f"soci-store stopped with {status}")
    # Its figures, written as it stopped: the runs above read files through it.
    stats_path = f"{S.work}/store-stats.json"
    check(os.path.exists(stats_path), "no --stats-file written as the store stopped")
    if os.path.exists(stats_path):
        lib = json.load(open(stats_path))["library"]
        for key in ("bytes_fetched", "requests", "spans_demanded", "spans_decoded", "cache_misses", "bytes_served",
                    "read_wait_ns", "decode_ns", "background_spans", "disk_corrupt"):
            check(key in lib, f"stats file without {key}: {lib}")
        check(lib.get("requests", 0) > 0 and lib.get("bytes_fetched", 0) > 0 and lib.get("spans_demanded", 0) > 0
              and lib.get("spans_decoded", 0) > 0 and lib.get("bytes_served", 0) > 0,
              f"the store's figures miss the reads it served: {lib}")
        os.unlink(stats_path)
    S.store.start()
    p = S.lazy("run", "--rm", "--network=none", S.ref, "/bin/sh", "-c", "cat /gone/fresh /opq/sub/deep 2>&1; ls /opq")
    check(p.returncode == 0 and p.stdout.startswith("fresh\n"), f"after a restart: {p.stdout!r} {p.stderr[-600:]}")


def test_registry_down():
    """The registry stops with spans unread: a clean I/O error in the container; the store
    lives on and serves the file once the registry is back."""
    S.store.stop()
    S.store = engine_fixture.Store(S.store_tool, S.work, "--no-background-fetch", cache="store-cache-empty")
    p = S.lazy("run", "--rm", "--network=none", S.ref, "/bin/sh", "-c", "cat /etc/hostname")
    check(p.returncode == 0, f"warm-up: {p.stderr[-600:]}")
    S.reg.stop()
    try:
        p = S.lazy("run", "--rm", "--network=none", S.ref, "/bin/sh", "-c",
                   "cat /data/big > /dev/null; echo status=$?", timeout=600)
        check("status=1" in p.stdout and "Input/output error" in p.stdout + p.stderr,
              f"reading with the registry down: {p.returncode} {p.stdout!r} {p.stderr[-400:]!r}")
        check(S.store.alive() and S.store.mounted(), "soci-store died with the registry")
    finally:
        S.reg.start()
    want = hashlib.sha256(open(f"{S.rootfs}/data/big", "rb").read()).hexdigest()
    p = S.lazy("run", "--rm", "--network=none", S.ref, "/bin/sh", "-c", "sha256sum /data/big")
    check(p.returncode == 0 and p.stdout.startswith(want), f"registry back: {p.stdout!r} {p.stderr[-400:]}")


def test_registries_conf_mirror():
    """An image named at a registry that is down, served by the mirror podman's
    registries.conf names: soci-store reads the same file and goes to the mirror too."""
    dead = f"127.0.0.1:{registry_fixture.free_port()}"
    podman = engine_fixture.Podman(S.work, "mirrored", dead, store=S.store.dir, mirror=S.reg.host)
    S.store.stop()
    S.store = engine_fixture.Store(S.store_tool, S.work, "--no-background-fetch", "--registries-conf",
                                   podman.registries_conf)
    try:
        ref = f"{dead}/store/app:1"
        mark = log_mark()
        p = podman("run", "--rm", "--network=none", ref, "/bin/sh", "-c", "cat /keep")
        check(p.returncode == 0 and p.stdout == "kept, changed\n", f"through the mirror: {p.stderr[-600:]}")
        check(f"of {ref}: served lazily" in S.store.read_log(), "the store did not serve the mirrored image")
        fetched = {d for d, status in blob_gets(mark) if status == 200}
        check(not (fetched & indexed_layers(S.ref)), "indexed layers fetched whole through the mirror")
    finally:
        podman.destroy()


def test_estargz():
    layout = test_image.estargz_variant(S.work, S.layout)
    ref = f"{S.reg.host}/store/estargz:1"
    run(S.tool, "push", f"{layout}:img", ref)
    lazy = tree(S.lazy, ref)
    check(S.normal("pull", ref).returncode == 0, "normal pull of the eStargz image")
    normal = tree(S.normal, ref)
    if lazy is not None and normal is not None:
        # The layer's TOC is the format's own metadata: podman's plain tar extraction keeps
        # it as a file, the lazy stores (stargz-store, soci-store) do not show it.
        check(normal.pop("/stargz.index.json", None) is not None and "/stargz.index.json" not in lazy,
              "stargz.index.json: the normal pull should have it as a file, the store should not")
        compare_trees(lazy, normal, "eStargz: ")
    check("(estargz)" in S.store.read_log(), "no layer served through its eStargz TOC")


def test_bad_names():
    """What anyone can look up in the store: ENOENT, a log line, never a crash or a hang."""
    store = S.store.dir
    layer = sorted(indexed_layers(S.ref))[0]
    cases = [
        ("not base64", "not base64!"),
        ("base64 of garbage", "A" * 252),
        ("not a reference", b64("not a reference")),
        ("a local path", b64("/etc/passwd")),
        ("a layer the image lacks", f"{b64(S.ref)}/sha256:{'0' * 64}"),
        ("not a digest", f"{b64(S.ref)}/sha256:xyz"),
        ("an unreachable registry", f"{b64('127.0.0.1:1/none/here:1')}/{layer}"),
    ]
    for what, name in cases:
        t = time.time()
        try:
            os.stat(f"{store}/{name}")
            check(False, f"{what}: found")
        except OSError as e:
            check(e.errno == errno.ENOENT, f"{what}: {e}")
        check(time.time() - t < 60, f"{what}: took {time.time() - t:.0f} s")
    try:
        os.stat(f"{store}/{'QUFB' * 1024}")  # 4 KiB: the kernel refuses it before the store
        check(False, "a 4 KiB name was found")
    except OSError as e:
        check(e.errno in (errno.ENAMETOOLONG, errno.ENOENT), f"4 KiB name: {e}")
    # The engine's own writes: `use` and rmdir are counted and answered ENOENT.
    layer_dir = f"{store}/{b64(S.ref)}/{layer}"
    for what, op in (("create use", lambda: open(f"{layer_dir}/use", "w")), ("rmdir", lambda: os.rmdir(layer_dir))):
        try:
            op()
            check(False, f"{what} succeeded")
        except OSError as e:
            check(e.errno == errno.ENOENT, f"{what}: {e}")
    check(sorted(os.listdir(layer_dir)) == ["blob", "diff", "info"], "the layer directory changed")
    info = json.load(open(f"{layer_dir}/info"))
    check(info["compressed-diff-digest"] == layer and info["compression"] == 2, f"info: {info}")
    blob = open(f"{layer_dir}/blob", "rb").read()
    check("sha256:" + hashlib.sha256(blob).hexdigest() == layer, "blob bytes do not hash to the layer digest")
    check(S.store.alive(), "soci-store died")
    log = S.store.read_log()
    for needle in ("does not name an image reference", "has no layer", "127.0.0.1:1"):
        check(needle in log, f"no log line with {needle!r}")


def erofs_mounts_under(path):
    return [line.split()[4] for line in open("/proc/self/mountinfo")
            if line.split()[4].startswith(path + "/") and " - erofs " in line]


def test_kernel():
    """soci-store --kernel: each layer's diff is a link to its EROFS mount, and a container
    run through it equals a normal pull; the prefetch artifact's blocks are handed to the
    kernel; SIGTERM takes every mount down; after SIGKILL the
    next start takes the dead one's mounts down and serves again."""
    runtime = os.environ["SOCI_STORE_RUNTIME_DIR"]
    if "erofs" not in open("/proc/filesystems").read():
        print("     note: this kernel has no EROFS: not run")
        return
    S.store.stop()
    S.lazy.reset()
    S.store = engine_fixture.Store(S.store_tool, S.work, "--kernel", "--no-background-fetch", cache="store-cache-k")
    lazy = tree(S.lazy, S.ref)
    normal = tree(S.normal, S.ref)
    if lazy is not None and normal is not None:
        compare_trees(lazy, normal, "kernel path: ")
    log = S.store.read_log()
    check(log.count(": EROFS at ") == 2, f"store log: {log[-800:]}")
    # The prefetch artifact's blocks went to the kernel's page cache before podman read them.
    check("handed to the kernel" in log, f"no planned data handed over: {log[-800:]}")
    diffs = [f"{S.store.dir}/{b64(S.ref)}/{d}/diff" for d in indexed_layers(S.ref)]
    targets = [os.readlink(d) if os.path.islink(d) else None for d in diffs]
    check(all(t and t.startswith(runtime + "/") for t in targets), f"diff links: {targets}")
    check(len(erofs_mounts_under(runtime)) == 2, f"EROFS mounts: {erofs_mounts_under(runtime)}")
    check(all(os.stat(d).st_mode & 0o777 == 0o555 for d in diffs), "a layer's root is not 0555")
    check(len(glob.glob(f"{S.work}/store-cache-k/erofs/*-engine.erofs")) == 2, "kept engine-form images")
    status = S.store.stop()
    check(status == 0 and not erofs_mounts_under(runtime) and not os.listdir(runtime),
          f"after SIGTERM: status {status}, mounts {erofs_mounts_under(runtime)}, left {os.listdir(runtime)}")
    # Killed outright: its mounts stay until the next start takes them down.
    S.store.start()
    p = S.lazy("run", "--rm", "--network=none", S.ref, "/bin/sh", "-c", "cat /gone/fresh")
    check(p.returncode == 0 and p.stdout == "fresh\n", f"second start: {p.stdout!r} {p.stderr[-400:]}")
    S.store.proc.send_signal(signal.SIGKILL)
    S.store.proc.wait()
    S.store.log.close()
    subprocess.run(["umount", "-l", S.store.dir], capture_output=True)
    check(erofs_mounts_under(runtime), "a killed store leaves its mounts (as any killed mounter does)")
    S.lazy.reset()
    S.store.start()
    check("did not stop cleanly" in S.store.read_log(), "no cleanup noted")
    p = S.lazy("run", "--rm", "--network=none", S.ref, "/bin/sh", "-c", "cat /gone/fresh")
    check(p.returncode == 0 and p.stdout == "fresh\n", f"after SIGKILL: {p.stdout!r} {p.stderr[-400:]}")
    check(len(erofs_mounts_under(runtime)) == 2, f"mounts after the restart: {erofs_mounts_under(runtime)}")


def main():
    missing = engine_fixture.available()
    if missing:
        print(f"SKIP: needs {missing} (ci/deps.sh installs the tools; run as root)")
        return 77
    S.tool, S.store_tool = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        S.work = work
        os.environ["SOCI_STORE_RUNTIME_DIR"] = f"{work}/run"
        S.layout, S.rootfs = test_image.build(work, S.tool, pullable=True)
        # Indexed again with a prefetch artifact: the store fetches its spans before serving.
        run(S.tool, "create", "--span-size", "256K", "--min-layer-size", "1M", "--prefetch-file", "/data/f05",
            f"{S.layout}:img")
        S.reg = registry_fixture.Registry(work, log_level="info")
        S.ref = f"{S.reg.host}/store/app:1"
        run(S.tool, "push", f"{S.layout}:img", S.ref)
        S.listen_port = registry_fixture.free_port()
        S.store = engine_fixture.Store(S.store_tool, work, "--no-background-fetch", "--stats-file",
                                       f"{work}/store-stats.json", "--listen", f"127.0.0.1:{S.listen_port}")
        S.lazy = engine_fixture.Podman(work, "lazy", S.reg.host, store=S.store.dir)
        S.normal = engine_fixture.Podman(work, "normal", S.reg.host)
        try:
            return run_cases([
                ("podman run through the store equals a normal pull", test_run_equals_normal_pull),
                ("its figures over HTTP (--listen)", test_figures_over_http),
                ("options from a config file (--config)", test_config_file),
                ("two images sharing layers", test_shared_layer),
                ("pull by digest", test_pull_by_digest),
                ("podman rmi, then pull again", test_rmi_and_pull_again),
                ("soci-store restarted while podman holds no container", test_store_restart),
                ("bad names, the engine's use and rmdir", test_bad_names),
                ("mirrors and insecure registries from registries.conf", test_registries_conf_mirror),
                ("an eStargz image", test_estargz),
                ("the registry stops mid-run", test_registry_down),
                ("soci-store --kernel: layers as EROFS mounts", test_kernel),
            ])
        finally:
            S.lazy.destroy()
            S.normal.destroy()
            if S.store.alive():
                S.store.stop()
            S.reg.stop()
            for point in reversed(erofs_mounts_under(f"{work}/run")):
                subprocess.run(["umount", "-l", point], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
