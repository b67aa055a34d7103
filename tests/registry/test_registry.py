#!/usr/bin/env python3
"""Lazy reads from a real registry: images built with umoci, indexed (v1 and v2) and
pushed with soci-index, read back file by file with `soci-index get-file` and compared
with `umoci unpack` of the same image. Also basic auth through a docker config file,
the plain-HTTP fallback for loopback registries, and clean errors.

Usage: test_registry.py SOCI_INDEX
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fault_proxy  # noqa: E402
from pyharness import check, run, run_cases  # noqa: E402
import referrers_stub  # noqa: E402
import registry_fixture  # noqa: E402
import storage_redirect  # noqa: E402
import token_server  # noqa: E402


def make_image(work, name):
    """Two layers: a big one (a zTOC) and a small one (fetched whole) that deletes a file
    of the first and replaces another."""
    layout, bundle = f"{work}/{name}", f"{work}/{name}-bundle"
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:img")
    run("umoci", "unpack", "--image", f"{layout}:img", bundle)
    rnd = random.Random(11)
    root = f"{bundle}/rootfs"
    os.makedirs(f"{root}/data/sub")
    for i in range(30):
        with open(f"{root}/data/f{i:02d}", "wb") as f:
            f.write(rnd.randbytes(rnd.randint(300000, 800000)))
    with open(f"{root}/data/big", "wb") as f:
        f.write(rnd.randbytes(12 << 20))  # many spans: read with parallel range requests
    with open(f"{root}/data/sub/text", "w") as f:
        f.write("lazy " * 20000)
    os.symlink("f01", f"{root}/data/link")
    os.link(f"{root}/data/f02", f"{root}/data/hard")
    run("umoci", "repack", "--image", f"{layout}:img", bundle)
    shutil.rmtree(bundle)
    run("umoci", "unpack", "--image", f"{layout}:img", bundle)
    os.remove(f"{root}/data/f03")
    with open(f"{root}/data/f04", "wb") as f:
        f.write(b"replaced in the upper layer\n")
    with open(f"{root}/data/new", "w") as f:
        f.write("only in the small layer\n")
    run("umoci", "repack", "--image", f"{layout}:img", bundle)
    shutil.rmtree(bundle)
    run("umoci", "unpack", "--image", f"{layout}:img", bundle)  # the reference extraction
    return layout, f"{bundle}/rootfs"


def expected_files(rootfs):
    out = {}
    for dirpath, _, files in os.walk(f"{rootfs}/data"):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out[os.path.relpath(p, rootfs)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def read_all(image, files, env=None, extra=()):
    """get-file every file (each a fresh process); the fewest bytes one read fetched."""
    fetched = None
    for path, want in sorted(files.items()):
        p = run(TOOL, "get-file", "--stats", *extra, image, path, ok=False, env=env)
        if not check(p.returncode == 0, f"{image} {path}: {p.stderr.decode().strip()}"):
            continue
        check(hashlib.sha256(p.stdout).hexdigest() == want, f"{image} {path}: bytes differ from umoci unpack")
        stats = dict(kv.split("=") for kv in p.stderr.decode().split())
        fetched = int(stats["fetched"]) if fetched is None else min(fetched, int(stats["fetched"]))
    return fetched


def image_manifest(layout):
    """The image manifest, read from the layout's files."""
    idx = json.load(open(f"{layout}/index.json"))
    d = next(m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "img")
    m = json.load(open(f"{layout}/blobs/sha256/{d['digest'][7:]}"))
    if "manifests" in m:
        inner = next(x for x in m["manifests"] if "artifactType" not in x)
        m = json.load(open(f"{layout}/blobs/sha256/{inner['digest'][7:]}"))
    return m


def image_layers(layout):
    """The image manifest's layer descriptors."""
    return image_manifest(layout)["layers"]


def layer_sizes(layout):
    return [l["size"] for l in image_layers(layout)]


def test_v2_and_v1(work, reg):
    for version in ("v2", "v1"):
        layout, rootfs = make_image(work, f"img-{version}")
        run(TOOL, "create", "--format", version, "--span-size", "1048576", f"{layout}:img")
        dest = f"{reg.host}/app-{version}:latest"
        run(TOOL, "push", f"{layout}:img", dest)
        files = expected_files(rootfs)
        check(len(files) >= 30, f"{version}: only {len(files)} files")
        fetched = read_all(dest, files)
        big = max(layer_sizes(layout))
        check(fetched < big / 4, f"{version}: the smallest read fetched {fetched} of a {big}-byte layer")
        # Deleted in the upper layer: gone, though the lower layer still has it.
        p = run(TOOL, "get-file", dest, "data/f03", ok=False)
        check(p.returncode != 0 and b"no file" in p.stderr, f"{version}: whiteout not honoured: {p.stderr!r}")
        # The reference's link and hard link.
        p = run(TOOL, "get-file", dest, "data/hard", ok=False)
        check(p.returncode == 0 and hashlib.sha256(p.stdout).hexdigest() == files["data/f02"], f"{version}: hard link")
        # Remote inspection: the index the discovery finds, and its zTOC read from the registry.
        info = json.loads(run(TOOL, "index", "info", "--json", dest).stdout)
        check(info["version"] == version and len(info["ztocs"]) == 1, f"{version}: remote index info {info}")
        listed_indexes = json.loads(run(TOOL, "index", "list", "--json", dest).stdout)
        check([(x["digest"], x["version"]) for x in listed_indexes] == [(info["digest"], version)],
              f"{version}: remote index list {listed_indexes}")
        repo = dest.rsplit(":", 1)[0]
        listed = json.loads(run(TOOL, "ztoc", "list", "--json", f"{repo}@{info['ztocs'][0]['digest']}").stdout)
        check(len(listed) >= 30, f"{version}: remote ztoc list has {len(listed)} entries")
        # A digest reference works as well as a tag.
        top = run("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{dest}").stdout
        digest = "sha256:" + hashlib.sha256(top).hexdigest()
        p = run(TOOL, "get-file", f"{reg.host}/app-{version}@{digest}", "data/new", ok=False)
        check(p.returncode == 0 and p.stdout == b"only in the small layer\n", f"{version}: by digest: {p.stderr!r}")


def test_referrers_api(work, reg):
    """A v1 index found through the referrers API (stubbed: distribution 2.8 has none)."""
    stub = referrers_stub.ReferrersStub(reg.port)
    try:
        layout, rootfs = make_image(work, "img-referrers")
        run(TOOL, "create", "--format", "v1", f"{layout}:img")
        run(TOOL, "push", f"{layout}:img", f"{reg.host}/referred:1")
        files = dict(list(sorted(expected_files(rootfs).items()))[:2])
        read_all(f"{stub.host}/referred:1", files)
        info = json.loads(run(TOOL, "index", "info", "--json", f"{stub.host}/referred:1").stdout)
        check(info["version"] == "v1", f"referrers API: {info}")
        check(stub.api_calls >= 1, "the referrers API was not asked")
        # The fallback tag goes out beside the API on speculation, with one try: a failing
        # one does not hold up the API's answer with its retries.
        stub.tag_faults, stub.tag_calls = [503] * 10, 0
        info = json.loads(run(TOOL, "index", "info", "--json", f"{stub.host}/referred:1").stdout)
        check(info["version"] == "v1", f"referrers API beside a failing tag: {info}")
        check(stub.tag_calls == 1, f"the fallback tag asked {stub.tag_calls} times beside the API")
        # No API: a speculative fallback that failed is asked again, with retries.
        stub.api, stub.tag_faults, stub.tag_calls = False, [503], 0
        info = json.loads(run(TOOL, "index", "info", "--json", f"{stub.host}/referred:1").stdout)
        check(info["version"] == "v1", f"the fallback tag after a failed try: {info}")
        check(stub.tag_calls == 2, f"the fallback tag asked {stub.tag_calls} times")
    finally:
        stub.stop()


def test_create_push(work, reg):
    layout, rootfs = make_image(work, "img-create-push")
    dest = f"{reg.host}/created:pushed"
    run(TOOL, "create", "--push", dest, f"{layout}:img")
    files = dict(list(sorted(expected_files(rootfs).items()))[:2])
    read_all(dest, files)


def test_basic_auth(work):
    htpasswd = registry_fixture.make_htpasswd(work, "alice", "s3cret-pass")
    reg = registry_fixture.Registry(work, htpasswd=htpasswd)
    try:
        layout, rootfs = make_image(work, "img-auth")
        run(TOOL, "create", f"{layout}:img")
        env = dict(os.environ)
        with open(f"{work}/auth.json", "w") as f:
            json.dump({"auths": {reg.host: {"username": "alice", "password": "s3cret-pass"}}}, f)
        env["REGISTRY_AUTH_FILE"] = f"{work}/auth.json"
        dest = f"{reg.host}/private/app:1"
        run(TOOL, "push", f"{layout}:img", dest, env=env)
        files = dict(list(sorted(expected_files(rootfs).items()))[:5])
        read_all(dest, files, env=env)
        # The base64 "auth" form of docker's config.json.
        import base64
        with open(f"{work}/config.json", "w") as f:
            json.dump({"auths": {f"http://{reg.host}": {"auth": base64.b64encode(b"alice:s3cret-pass").decode()}}}, f)
        env2 = dict(os.environ, DOCKER_CONFIG=work)
        env2.pop("REGISTRY_AUTH_FILE", None)
        read_all(dest, dict(list(files.items())[:1]), env=env2)
        # podman's own places (containers-auth.json(5)): the runtime directory's file, then
        # the configuration directory's.
        for var in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"):
            os.makedirs(f"{work}/{var}/containers", exist_ok=True)
            shutil.copy(f"{work}/auth.json", f"{work}/{var}/containers/auth.json")
            podman_env = dict(os.environ, HOME=work + "/nohome", **{var: f"{work}/{var}"})
            podman_env.pop("REGISTRY_AUTH_FILE", None)
            read_all(dest, dict(list(files.items())[:1]), env=podman_env)
        # Credentials from the embedding program, through the credential callback.
        example = os.path.join(os.path.dirname(TOOL), "..", "embed", "remote_read")
        if os.path.exists(example):
            first = list(files)[0]
            no_files = dict(os.environ, HOME=work + "/nohome", SOCI_USERNAME="alice", SOCI_PASSWORD="s3cret-pass")
            no_files.pop("REGISTRY_AUTH_FILE", None)
            p = run(example, dest, first, ok=False, env=no_files)
            check(p.returncode == 0 and hashlib.sha256(p.stdout).hexdigest() == files[first],
                  f"credential callback: {p.stderr!r}")
        # No credentials, and wrong ones: a clear authentication error naming no secret.
        env3 = dict(os.environ, HOME=work + "/nohome", XDG_RUNTIME_DIR=work + "/norun", XDG_CONFIG_HOME=work + "/noconf")
        env3.pop("REGISTRY_AUTH_FILE", None)
        env3.pop("DOCKER_CONFIG", None)
        p = run(TOOL, "get-file", dest, "data/new", ok=False, env=env3)
        check(p.returncode != 0 and b"credentials" in p.stderr, f"no credentials: {p.stderr!r}")
        with open(f"{work}/bad.json", "w") as f:
            json.dump({"auths": {reg.host: {"username": "alice", "password": "wrong"}}}, f)
        p = run(TOOL, "get-file", dest, "data/new", ok=False, env=dict(env3, REGISTRY_AUTH_FILE=f"{work}/bad.json"))
        check(p.returncode != 0 and b"wrong" not in p.stderr and b"alice" not in p.stderr,
              f"bad credentials: {p.stderr!r}")
    finally:
        reg.stop()


def test_redirects(work):
    """Blobs behind redirects to storage: no credentials leak to storage, a storage URL is
    reused for a blob's next ranges, and an expired one sends us back to the registry."""
    htpasswd = registry_fixture.make_htpasswd(work, "carol", "redir-pass")
    reg = registry_fixture.Registry(work, htpasswd=htpasswd)
    front = storage_redirect.RedirectingRegistry(reg.port, "carol", "redir-pass")
    try:
        layout, rootfs = make_image(work, "img-redirect")
        run(TOOL, "create", "--span-size", "1048576", f"{layout}:img")
        with open(f"{work}/redirect-auth.json", "w") as f:
            json.dump({"auths": {reg.host: {"username": "carol", "password": "redir-pass"},
                                 front.host: {"username": "carol", "password": "redir-pass"}}}, f)
        env = dict(os.environ, REGISTRY_AUTH_FILE=f"{work}/redirect-auth.json")
        run(TOOL, "push", f"{layout}:img", f"{reg.host}/redir/app:1", env=env)
        files = expected_files(rootfs)
        wanted = [p for p in sorted(files) if p.startswith("data/f")][:8]
        p = run(TOOL, "get-file", f"{front.host}/redir/app:1", *wanted, ok=False, env=env)
        want = b"".join(open(f"{rootfs}/{w}", "rb").read() for w in wanted)
        check(p.returncode == 0 and p.stdout == want, f"through redirects: {p.stderr!r}")
        check(front.auth_seen == 0, f"{front.auth_seen} requests carried credentials to storage")
        check(front.storage_ranges >= 3, f"storage served only {front.storage_ranges} ranges")
        # The image config, the zTOC, the small layer and the big layer's first range each
        # redirect once; later ranges go straight to storage.
        check(front.redirects <= 4, f"{front.redirects} redirects for {front.storage_ranges} ranges")
        before = front.redirects
        front.storage_ranges = front.range_redirects = 0
        front.expire_cached = True
        p = run(TOOL, "get-file", f"{front.host}/redir/app:1", *wanted, ok=False, env=env)
        check(p.returncode == 0 and p.stdout == want, f"after an expired storage URL: {p.stderr!r}")
        check(front.redirects > before, "no new redirect after storage refused")
    finally:
        front.stop()
        reg.stop()


def test_bearer_tokens(work):
    tokens = token_server.TokenServer(work, "bob", "token-pass")
    reg = registry_fixture.Registry(work, auth_config=tokens.registry_auth_config())
    try:
        layout, rootfs = make_image(work, "img-token")
        run(TOOL, "create", f"{layout}:img")
        with open(f"{work}/token-auth.json", "w") as f:
            json.dump({"auths": {reg.host: {"username": "bob", "password": "token-pass"}}}, f)
        env = dict(os.environ, REGISTRY_AUTH_FILE=f"{work}/token-auth.json")
        dest = f"{reg.host}/tokens/app:1"
        run(TOOL, "push", f"{layout}:img", dest, env=env)
        files = dict(list(sorted(expected_files(rootfs).items()))[:4])
        before = tokens.issued
        read_all(dest, files, env=env)
        check(tokens.issued > before, "no token was fetched for reads")
        # Anonymous callers get pull-only tokens: reads work without credentials.
        anon = dict(os.environ, HOME=f"{work}/nohome")
        anon.pop("REGISTRY_AUTH_FILE", None)
        anon.pop("DOCKER_CONFIG", None)
        read_all(dest, dict(list(files.items())[:1]), env=anon)
        # Tokens that expire during a long read are fetched again (a 2 s token, a slow link;
        # through the proxy the reads are anonymous, pull-only).
        tokens.ttl = 2
        slow = fault_proxy.FaultProxy(reg.port, delay=0.7)
        try:
            before = tokens.issued
            realm_host = f"{slow.host}/tokens/app:1"
            p = run(TOOL, "get-file", realm_host, "data/big", ok=False, env=env)
            check(p.returncode == 0 and len(p.stdout) == 12 << 20, f"long read with expiring tokens: {p.stderr!r}")
            check(tokens.issued - before >= 2, f"{tokens.issued - before} token(s) for a read outliving them")
        finally:
            slow.stop()
            tokens.ttl = 300
        # ...but pushing needs the push scope a known user gets.
        p = run(TOOL, "push", f"{layout}:img", f"{reg.host}/tokens/other:1", ok=False, env=anon)
        check(p.returncode != 0 and b"token-pass" not in p.stderr, f"anonymous push: {p.stderr!r}")
    finally:
        reg.stop()
        tokens.stop()


def test_tls(work):
    ca, cert, key = registry_fixture.make_tls(work)
    reg = registry_fixture.Registry(work, tls=(cert, key))
    try:
        layout, rootfs = make_image(work, "img-tls")
        run(TOOL, "create", f"{layout}:img")
        dest = f"{reg.host}/tls/app:1"
        run(TOOL, "push", "--ca", ca, f"{layout}:img", dest)
        files = dict(list(sorted(expected_files(rootfs).items()))[:3])
        read_all(dest, files, extra=("--ca", ca))
        read_all(dest, dict(list(files.items())[:1]), extra=("--insecure",))
        # Unverifiable certificate: refused, and no silent fall back to plain HTTP.
        p = run(TOOL, "get-file", dest, "data/new", ok=False)
        check(p.returncode != 0 and (b"certificate" in p.stderr or b"SSL" in p.stderr), f"unverified TLS: {p.stderr!r}")
    finally:
        reg.stop()


def test_faults(work, reg):
    """Through a proxy that breaks span fetches: right bytes after retries, or a clear
    error once retries run out; never wrong bytes."""
    proxy = fault_proxy.FaultProxy(reg.port)
    try:
        layout, rootfs = make_image(work, "img-faults")
        run(TOOL, "create", "--span-size", "1048576", f"{layout}:img")
        run(TOOL, "push", f"{layout}:img", f"{reg.host}/faults:1")
        files = expected_files(rootfs)
        path = "data/f10"
        image = f"{proxy.host}/faults:1"
        for plan in (["500", "500"], ["429"], ["reset"], ["truncate"], ["slow"], ["500", "reset", "truncate"]):
            proxy.script(plan)
            p = run(TOOL, "get-file", "--stats", image, path, ok=False)
            ok = p.returncode == 0 and hashlib.sha256(p.stdout).hexdigest() == files[path]
            check(ok, f"{plan}: {p.stderr.decode().strip()}")
            retried = len([f for f in plan if f != "slow"])
            check(proxy.range_requests > retried, f"{plan}: no retry seen ({proxy.range_requests} range requests)")
        # A big file: merged ranges go out in parallel (and a fault among them is retried).
        for plan in ([], ["reset"]):
            proxy.script(plan)
            proxy.max_inflight = 0
            p = run(TOOL, "get-file", image, "data/big", ok=False)
            check(p.returncode == 0 and hashlib.sha256(p.stdout).hexdigest() == files["data/big"],
                  f"big file {plan}: {p.stderr!r}")
            check(proxy.max_inflight >= 2, f"big file {plan}: at most {proxy.max_inflight} range request(s) at once")
        for plan, needle in ((["bad-range"], b"Content-Range"), (["500"] * 10, b"HTTP 500")):
            proxy.script(plan)
            p = run(TOOL, "get-file", image, path, ok=False)
            check(p.returncode != 0 and needle in p.stderr and not p.stdout, f"{plan}: {p.returncode} {p.stderr!r}")
        # Bytes that fail their span check: an error naming the layer, and no bytes out.
        big = max(image_layers(layout), key=lambda l: l["size"])["digest"]
        proxy.script(["corrupt"] * 20)
        p = run(TOOL, "get-file", image, path, ok=False)
        check(p.returncode != 0 and not p.stdout and f"layer {big} span".encode() in p.stderr,
              f"corrupt span: {p.returncode} {p.stderr!r}")
    finally:
        proxy.stop()


def test_open_side_by_side(work, reg):
    """Opening an image fetches its config (only the layers' diff_ids need it) while the
    SOCI index is being found, and asks the referrers API and its tag fallback at once (a
    registry without the API, as distribution 2.8, then costs no round trip more): on a
    slow link those requests overlap."""
    layout, _ = make_image(work, "img-beside")
    run(TOOL, "create", "--format", "v1", f"{layout}:img")
    run(TOOL, "push", f"{layout}:img", f"{reg.host}/beside:1")
    config = image_manifest(layout)["config"]["digest"]
    proxy = fault_proxy.FaultProxy(reg.port, delay=0.3)
    try:
        p = run(TOOL, "get-file", f"{proxy.host}/beside:1", "data/new", ok=False)
        check(p.returncode == 0 and p.stdout == b"only in the small layer\n", f"get-file: {p.stderr!r}")
        (got,) = [t for t in proxy.timeline if t[0].endswith(f"/blobs/{config}")]
        # v1 discovery on distribution 2.8: the referrers API (404) and its tag fallback.
        (api,) = [t for t in proxy.timeline if "/referrers/" in t[0]]
        (tag,) = [t for t in proxy.timeline if "/manifests/sha256-" in t[0]]
        overlap = lambda a, b: a[1] < b[2] and b[1] < a[2]  # noqa: E731
        check(overlap(got, api) or overlap(got, tag), f"the config was fetched apart from the discovery: {proxy.timeline}")
        check(overlap(api, tag), f"the referrers API and its tag fallback one after the other: {api} {tag}")
    finally:
        proxy.stop()


def test_range_ignored(work, reg):
    """Through a proxy that drops Range (the registry then answers 200 with the whole
    blob): the right bytes all the same, and one warning per process naming the host."""
    proxy = fault_proxy.FaultProxy(reg.port)
    try:
        layout, rootfs = make_image(work, "img-norange")
        run(TOOL, "create", "--span-size", "1048576", f"{layout}:img")
        run(TOOL, "push", f"{layout}:img", f"{reg.host}/norange:1")
        proxy.strip_range = True
        picked = ["data/f00", "data/f29", "data/big", "data/new", "data/sub/text"]
        p = run(TOOL, "get-file", f"{proxy.host}/norange:1", *picked, ok=False)
        err = p.stderr.decode()
        check(p.returncode == 0, f"read through a Range-stripping proxy: {err.strip()}")
        want = b"".join(open(f"{rootfs}/{path}", "rb").read() for path in picked)
        check(p.stdout == want, "the files' bytes differ from umoci unpack's")
        check(err.count("ignores HTTP range requests") == 1 and proxy.host in err,
              f"want one warning naming {proxy.host}: {err!r}")
        check(proxy.whole_answers >= 2, f"{proxy.whole_answers} range requests reached the proxy")
    finally:
        proxy.stop()


def test_cache_dir(work, reg):
    """get-file --cache-dir: files read one call at a time fetch what one call reading
    them all fetches, once; a second round fetches no zTOC, layer or span at all."""
    layout, rootfs = make_image(work, "img-cached")
    run(TOOL, "create", "--span-size", "1048576", f"{layout}:img")
    image = f"{reg.host}/cached:1"
    run(TOOL, "push", f"{layout}:img", image)
    files = expected_files(rootfs)
    picked = ["data/f00", "data/f05", "data/f17", "data/new", "data/sub/text", "data/f04"]
    stats = lambda p: dict(kv.split("=") for kv in p.stderr.decode().split())  # noqa: E731
    together = int(stats(run(TOOL, "get-file", "--stats", image, *picked))["fetched"])
    cache = f"{work}/get-file-cache"
    rounds = []
    for _ in range(2):
        fetched = []
        for path in picked:
            p = run(TOOL, "get-file", "--stats", "--cache-dir", cache, image, path, ok=False)
            check(p.returncode == 0 and hashlib.sha256(p.stdout).hexdigest() == files[path],
                  f"{path} through the cache: {p.stderr!r}")
            fetched.append(int(stats(p)["fetched"]) if p.returncode == 0 else 0)
        rounds.append(fetched)
    # The second round fetches only what resolves the image (manifests, index, config).
    check(max(rounds[1]) < 64 << 10, f"second round fetched {rounds[1]}: something was not kept")
    # The first round fetches what one call does, plus that resolving once per call.
    once = sum(rounds[0]) - sum(rounds[1])
    check(once <= together * 1.05, f"one call at a time fetched {once} bytes beyond resolving, one call {together}")
    big = max(layer_sizes(layout))
    check(sum(rounds[0]) < big / 2, f"six files one by one fetched {sum(rounds[0])} of a {big}-byte layer")
    print(f"     six files one call each: {sum(rounds[0])} bytes fetched, then {sum(rounds[1])}; "
          f"in one call {together}; largest layer {big}")


def test_mirrors(work, reg):
    """containerd-style hosts.toml: a mirror serves when the origin is down, the origin
    when the mirror is down, and override_path puts the API root in the mirror's URL."""
    mirror = registry_fixture.Registry(work)
    try:
        layout, rootfs = make_image(work, "img-mirror")
        run(TOOL, "create", f"{layout}:img")
        run(TOOL, "push", f"{layout}:img", f"{mirror.host}/mirrored/app:1")
        run(TOOL, "push", f"{layout}:img", f"{reg.host}/mirrored/app:1")
        files = dict(list(sorted(expected_files(rootfs).items()))[:2])
        dead = f"127.0.0.1:{registry_fixture.free_port()}"

        def hosts(origin, body):
            d = f"{work}/hosts-{abs(hash(body))}"
            os.makedirs(f"{d}/{origin}", exist_ok=True)
            with open(f"{d}/{origin}/hosts.toml", "w") as f:
                f.write(body)
            return d

        d = hosts(dead, f'server = "http://{dead}"\n[host."http://{mirror.host}"]\n  capabilities = ["pull", "resolve"]\n')
        read_all(f"{dead}/mirrored/app:1", files, extra=("--hosts-dir", d))
        d = hosts(dead, f'[host."http://{mirror.host}/v2"]\n  override_path = true\n')
        read_all(f"{dead}/mirrored/app:1", files, extra=("--hosts-dir", d))
        d = hosts(reg.host, f'# the mirror is down\n[host."http://{dead}"]\n  capabilities = ["pull", "resolve"]\n')
        read_all(f"{reg.host}/mirrored/app:1", files, extra=("--hosts-dir", d))
        # A mirror without "resolve" is not asked for tags: with the origin down, nothing answers.
        d = hosts(dead, f'[host."http://{mirror.host}"]\n  capabilities = ["pull"]\n')
        p = run(TOOL, "get-file", "--hosts-dir", d, f"{dead}/mirrored/app:1", list(files)[0], ok=False)
        check(p.returncode != 0, "a pull-only mirror resolved a tag")
    finally:
        mirror.stop()


def test_errors(work, reg):
    for args, needle in (
        (["get-file", f"{reg.host}/nothing:here", "x"], b"HTTP 404"),
        (["get-file", "Bad Reference", "x"], b"image reference"),
        (["get-file", f"{reg.host}/app-v2:latest", "no/such/file"], b"no file"),
        (["get-file", "127.0.0.1:1/app:x", "x"], b"127.0.0.1:1"),
    ):
        p = run(TOOL, *args, ok=False)
        check(p.returncode != 0 and needle in p.stderr and p.stderr.count(b"\n") == 1, f"{args}: {p.stderr!r}")


def test_create_in_registry(work, reg):
    """An image pushed without an index (skopeo) is indexed where it lies: soci-index create
    REGISTRY_REF streams its layers from the registry and pushes the index back; every file
    then reads lazily, equal to umoci's extraction. The same zTOCs as indexing a copy of the
    image in a layout."""
    for version in ("v2", "v1"):
        layout, rootfs = make_image(work, f"img-inplace-{version}")
        dest = f"{reg.host}/inplace-{version}:1"
        run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{dest}")
        p = run(TOOL, "create", "--format", version, "--span-size", "1M", dest, ok=False)
        if not check(p.returncode == 0, f"{version}: create {dest}: {p.stderr.decode()[-400:]}"):
            continue
        info = json.loads(run(TOOL, "index", "info", "--json", dest).stdout)
        check(info["version"] == version and len(info["ztocs"]) == 1, f"{version}: index {info}")
        run(TOOL, "create", "--format", version, "--span-size", "1M", f"{layout}:img")
        local = json.loads(run(TOOL, "index", "info", "--json", f"{layout}@{info['digest']}", ok=False).stdout or "{}")
        local_ztocs = [z["digest"] for z in local.get("ztocs", [])]
        check(local_ztocs == [z["digest"] for z in info["ztocs"]],
              f"{version}: zTOCs differ from the layout build's: {local_ztocs} vs {info['ztocs']}")
        fetched = read_all(dest, expected_files(rootfs))
        big = max(layer_sizes(layout))
        check(fetched is not None and fetched < big / 4, f"{version}: a read fetched {fetched} of {big} bytes")
    p = run(TOOL, "create", f"{reg.host}/inplace-v1@sha256:{'0' * 64}", ok=False)
    check(p.returncode == 1 and b"by its tag" in p.stderr, f"a digest reference: {p.stderr!r}")
    p = run(TOOL, "create", f"{reg.host}/inplace-v1:no-such-tag", ok=False)
    check(p.returncode == 1 and b"no-such-tag" in p.stderr, f"a missing tag: {p.stderr!r}")


def main():
    global TOOL
    TOOL = os.path.abspath(sys.argv[1])
    if not registry_fixture.available() or shutil.which("umoci") is None or shutil.which("skopeo") is None:
        print("SKIP: docker-registry, htpasswd, umoci or skopeo missing (ci/deps.sh installs them)")
        return 77
    with tempfile.TemporaryDirectory() as work:
        reg = registry_fixture.Registry(work)
        try:
            return run_cases([
                ("v2 and v1 indexes through a registry", lambda: test_v2_and_v1(work, reg)),
                ("create --push", lambda: test_create_push(work, reg)),
                ("create REGISTRY_REF: indexed in place", lambda: test_create_in_registry(work, reg)),
                ("v1 index through the referrers API", lambda: test_referrers_api(work, reg)),
                ("basic auth from docker config files", lambda: test_basic_auth(work)),
                ("bearer tokens from a token issuer", lambda: test_bearer_tokens(work)),
                ("redirects to blob storage", lambda: test_redirects(work)),
                ("TLS with a test CA, --ca and --insecure", lambda: test_tls(work)),
                ("faults injected by a proxy", lambda: test_faults(work, reg)),
                ("opening an image: requests side by side", lambda: test_open_side_by_side(work, reg)),
                ("a proxy that ignores Range", lambda: test_range_ignored(work, reg)),
                ("get-file --cache-dir", lambda: test_cache_dir(work, reg)),
                ("mirrors from hosts.toml", lambda: test_mirrors(work, reg)),
                ("errors", lambda: test_errors(work, reg)),
            ])
        finally:
            reg.stop()


if __name__ == "__main__":
    sys.exit(main())
