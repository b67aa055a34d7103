#!/usr/bin/env python3
"""soci-indexer with the real parts: Debian's docker-registry configured to send it push
notifications (with the shared secret), images pushed with skopeo, indexes checked with
soci-index (which reads every file lazily through them, compared with umoci's
extraction). Also: the same image pushed twice, SIGKILL mid-build then a restart, the
registry down for a while, hostile requests and a flood of events.

usage: test_indexer.py SOCI_INDEX SOCI_INDEXER
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "registry"))
sys.path.insert(0, os.path.join(HERE, "..", "mount"))
from pyharness import check, run, run_cases  # noqa: E402
import registry_fixture  # noqa: E402
import test_image  # noqa: E402
import test_registry  # noqa: E402

SECRET = "s3cret-for-tests"


class Setup:
    pass


S = Setup()


class Indexer:
    def __init__(self, *extra, tls_ca=None):
        self.port = S.port
        self.extra = extra
        self.tls_ca = tls_ca
        self.log_path = f"{S.work}/indexer.log"
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [S.indexer, "--registry", S.reg.host, "--listen", f"127.0.0.1:{self.port}", "--state-dir",
             f"{S.work}/state", "--secret-file", f"{S.work}/secret", "--span-size", "1M", "--backoff", "1",
             *self.extra], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.tls_ca or api("GET", "/status")[0] == 200:
                    if self.tls_ca:
                        socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"soci-indexer did not start: {self.read_log()}")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        status = self.proc.wait(timeout=60)
        self.log.close()
        return status

    def read_log(self):
        return open(self.log_path, errors="replace").read()


def api(method, path, body=None, secret=SECRET, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", S.port, timeout=30)
    h = dict(headers or {})
    if secret:
        h["Authorization"] = f"Bearer {secret}"
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def status():
    return json.loads(api("GET", "/status")[1])


def metrics():
    out = {}
    for line in api("GET", "/metrics")[1].decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            out[name] = float(value)
    return out


def wait_idle(timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = status()
        if s["queued_count"] == 0 and s["running_count"] == 0:
            return s
        time.sleep(0.2)
    check(False, f"the queue did not drain: {status()}")
    return status()


def index_info(ref):
    p = run(S.tool, "index", "info", "--json", ref, ok=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def soci_indexes(ref):
    p = run(S.tool, "index", "list", "--json", ref, ok=False)
    return json.loads(p.stdout) if p.returncode == 0 else []


def push(layout, ref):
    run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{ref}")


def wait_indexed(ref, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = index_info(ref)
        if info and info.get("ztocs"):
            return info
        time.sleep(0.2)
    return None


def test_push_indexed():
    """An image pushed with skopeo gets an index within a bound; every file then reads
    lazily through it, equal to umoci's extraction."""
    ref = f"{S.reg.host}/app:1"
    t0 = time.time()
    push(S.layout, ref)
    pushed = time.time()
    info = wait_indexed(ref)
    if not check(info is not None, f"{ref}: no index after 120 s; log: {S.ix.read_log()[-1500:]}"):
        return
    print(f"     indexed {time.time() - pushed:.1f} s after the push ended (push {pushed - t0:.1f} s)")
    check(info["version"] == "v2" and len(info["ztocs"]) == 1, f"index: {info}")
    fetched = test_registry.read_all(ref, test_registry.expected_files(S.rootfs))
    check(fetched is not None and fetched < max(test_registry.layer_sizes(S.layout)) / 4, f"fetched {fetched}")
    # The image index the indexer pushed under the tag (v2) is announced too: seen, skipped.
    wait_idle()
    m = metrics()
    check(m["soci_indexer_images_indexed_total"] == 1 and m["soci_indexer_images_skipped_total"] >= 1 and
          m["soci_indexer_registry_bytes_read_total"] > 0, f"metrics: {m}")


def test_push_twice():
    """The same image pushed again: one SOCI index still, and no loop of the indexer's own
    pushes (they leave the queue empty)."""
    ref = f"{S.reg.host}/app:1"
    push(S.layout, ref)
    time.sleep(1)  # the registry's notification is sent in the background
    wait_idle()
    indexes = soci_indexes(ref)
    check(len(indexes) == 1, f"SOCI indexes of {ref}: {indexes}")
    before = metrics()
    time.sleep(2)
    after = metrics()
    check(after["soci_indexer_jobs_accepted_total"] == before["soci_indexer_jobs_accepted_total"],
          "the indexer's own pushes made work")


def test_killed_mid_build():
    """SIGKILL while building, then a restart: each image still gets exactly one index."""
    S.ix.stop()
    S.ix = Indexer("--workers", "1")
    refs = [f"{S.reg.host}/kill{i}:1" for i in range(3)]
    for ref in refs:
        push(S.layout, ref)
    deadline = time.time() + 60
    while time.time() < deadline and status()["running_count"] == 0:
        time.sleep(0.02)
    check(status()["running_count"] == 1, "no build in progress to kill")
    S.ix.stop(signal.SIGKILL)
    S.ix = Indexer()
    check("jobs=" in S.ix.read_log(), "the journal was not replayed")
    for ref in refs:
        check(wait_indexed(ref) is not None, f"{ref}: not indexed after the restart")
    wait_idle()
    for ref in refs:
        check(len(soci_indexes(ref)) == 1, f"{ref}: {soci_indexes(ref)}")


def test_registry_down():
    """POST /index while the registry is down: retried with backoff, indexed once it is back."""
    ref = f"{S.reg.host}/later:1"
    S.ix.stop()
    push(S.layout, ref)  # nobody listening: the registry's notification goes nowhere
    S.reg.stop()
    S.ix = Indexer("--attempts", "20")
    try:
        code, body = api("POST", "/index", json.dumps({"image": ref}))
        check(code == 202, f"POST /index: {code} {body!r}")
        time.sleep(4)
        check(metrics()["soci_indexer_retries_total"] >= 1, f"no retry: {metrics()}")
    finally:
        S.reg.start()
    check(wait_indexed(ref, timeout=90) is not None, f"{ref}: not indexed once the registry was back")


def two_platform_layout(layout):
    """Tag "multi" of layout: an image index of the image for linux/amd64 and the same
    layers as linux/arm64 (its own config, so its own manifest)."""
    blobs = f"{layout}/blobs/sha256"

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(f"{blobs}/{digest}", "wb") as f:
            f.write(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}
    index = json.load(open(f"{layout}/index.json"))
    desc = next(m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "img")
    manifest = json.load(open(f"{blobs}/{desc['digest'][7:]}"))
    entries = []
    for arch in ("amd64", "arm64"):
        config = json.load(open(f"{blobs}/{manifest['config']['digest'][7:]}"))
        config["architecture"] = arch
        m = dict(manifest, config=dict(manifest["config"], **put(json.dumps(config).encode())))
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **put(json.dumps(m).encode()),
                        "platform": {"os": "linux", "architecture": arch}})
    multi = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                               **put(json.dumps(multi).encode()),
                               "annotations": {"org.opencontainers.image.ref.name": "multi"}})
    with open(f"{layout}/index.json", "w") as f:
        json.dump(index, f)


def test_platforms_and_formats():
    """A two-platform image index gets an index per platform; images of small and large
    layers in zstd and in eStargz are indexed too, and read lazily."""
    S.ix.stop()
    S.ix = Indexer("--min-layer-size", "1M")
    two_platform_layout(S.layout)
    ref = f"{S.reg.host}/multi:1"
    run("skopeo", "copy", "--all", "--dest-tls-verify=false", f"oci:{S.layout}:multi", f"docker://{ref}")
    if check(wait_indexed(ref) is not None, f"{ref}: not indexed"):
        wait_idle()
        platforms = sorted(x["platform"] for x in soci_indexes(ref))
        check(platforms == ["linux/amd64", "linux/arm64"], f"{ref}: indexes {soci_indexes(ref)}")
        p = run(S.tool, "get-file", "--platform", "linux/arm64", ref, "data/sub/text", ok=False)
        check(p.returncode == 0 and p.stdout == b"lazy " * 20000, f"arm64 read: {p.stderr[-300:]!r}")
    layout, rootfs = test_image.build(f"{S.work}", S.tool, name="fmt")

    def zstd(tar, largest):
        # Frames of 1 MiB one after another (spans for the zTOC), each a plain zstd frame:
        # skopeo takes pzstd's leading skippable frame for no compression and gzips it.
        step = 1 << 20 if largest else len(tar) or 1
        frames = [subprocess.run(["zstd", "-q", "-c", "-3"], input=tar[k:k + step], capture_output=True,
                                 check=True).stdout for k in range(0, len(tar), step)]
        return b"".join(frames), "application/vnd.oci.image.layer.v1.tar+zstd", None, None
    for kind, variant in (("zstd", lambda: test_image.recompress(S.work, layout, "fmt-zstd", zstd)),
                          ("estargz", lambda: test_image.estargz_variant(S.work, layout, name="fmt-estargz"))):
        ref = f"{S.reg.host}/{kind}:1"
        push(variant(), ref)
        info = wait_indexed(ref)
        if not check(info is not None and len(info["ztocs"]) >= 1, f"{kind}: not indexed; {S.ix.read_log()[-800:]}"):
            continue
        for path in ("data/f10", "data/more"):
            p = run(S.tool, "get-file", ref, path, ok=False)
            check(p.returncode == 0 and p.stdout == open(f"{rootfs}/{path}", "rb").read(), f"{kind} {path}: "
                  f"{p.stderr[-300:]!r}")
    S.ix.stop()
    S.ix = Indexer()


def test_config_file():
    """Options from --config (name value or name = value, # comments); a missing file, or a
    --listen that is no IPv4 address and port, is a usage error."""
    with open(f"{S.work}/indexer.conf", "w") as f:
        f.write("# soci-indexer\nworkers = 3\nattempts 7   # tries\nqueue-size 50\n")
    S.ix.stop()
    S.ix = Indexer("--config", f"{S.work}/indexer.conf", "--queue-size", "60")
    log = S.ix.read_log().rsplit("msg=listening", 1)[-1].splitlines()[0]
    check("workers=3" in log, f"--config not applied: {log}")
    p = subprocess.run([S.indexer, "--registry", S.reg.host, "--config", f"{S.work}/nope.conf"], capture_output=True,
                       text=True)
    check(p.returncode == 2 and "nope.conf" in p.stderr, f"a missing config file: {p.returncode} {p.stderr!r}")
    for listen, says in (("localhost", "ADDRESS:PORT"), ("127.0.0.1:0", "port from 1"),
                         ("example.org:80", "not an IPv4 address")):
        p = subprocess.run([S.indexer, "--registry", S.reg.host, "--listen", listen, "--state-dir", f"{S.work}/bad"],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and says in p.stderr, f"--listen {listen}: {p.returncode} {p.stderr!r}")


def test_tls():
    """--tls-cert and --tls-key: the API over HTTPS, verified against the test CA."""
    import ssl
    ca, cert, key = registry_fixture.make_tls(f"{S.work}")
    S.ix.stop()
    S.ix = Indexer("--tls-cert", cert, "--tls-key", key, tls_ca=ca)
    try:
        ctx = ssl.create_default_context(cafile=ca)
        conn = http.client.HTTPSConnection("127.0.0.1", S.port, context=ctx, timeout=30)
        conn.request("GET", "/status", headers={"Authorization": f"Bearer {SECRET}"})
        resp = conn.getresponse()
        check(resp.status == 200 and b"queued_count" in resp.read(), f"HTTPS /status: {resp.status}")
        conn.close()
    finally:
        S.ix.stop()
        S.ix = Indexer()


def test_hostile():
    """Bad requests get clear HTTP errors; a flood of events is bounded; the indexer keeps
    serving."""
    envelope = {"events": [{"action": "push", "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "app/../../etc",
        "digest": "sha256:" + "1" * 64, "tag": "x"}}]}
    cases = [
        ("malformed JSON", "POST", "/events", b"{not json", SECRET, 400),
        ("10 MiB body", "POST", "/events", b"x" * (10 << 20), SECRET, 413),
        ("wrong secret", "POST", "/events", b'{"events": []}', "wrong", 401),
        ("no secret", "GET", "/status", None, None, 401),
        ("repository with ..", "POST", "/index", json.dumps({"image": f"{S.reg.host}/a/../b:1"}), SECRET, 400),
        ("another registry", "POST", "/index", json.dumps({"image": "evil.example:443/a:1"}), SECRET, 400),
        ("unknown path", "GET", "/nope", None, SECRET, 404),
        ("wrong method", "DELETE", "/events", None, SECRET, 405),
    ]
    for what, method, path, body, secret, want in cases:
        code, data = api(method, path, body, secret=secret)
        check(code == want and b"error" in data, f"{what}: {code} {data[:200]!r}")
    code, data = api("POST", "/events", json.dumps(envelope))
    check(code == 200 and json.loads(data)["ignored"] == 1, f"an event naming ..: {code} {data!r}")
    # A digest that does not exist: accepted, then failed with a reason, nothing else harmed.
    missing = {"events": [{"action": "push", "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "ghost",
        "digest": "sha256:" + "2" * 64, "tag": "gone"}}]}
    check(api("POST", "/events", json.dumps(missing))[0] == 200, "event for a missing image")
    wait_idle()
    failed = [j for j in status()["failed"] if j["key"].endswith("2" * 64)]
    check(len(failed) == 1 and failed[0].get("reason"), f"missing image: {status()['failed']}")
    # A flood: 10,000 events (100 envelopes of 100), more than the queue holds.
    S.ix.stop()
    S.ix = Indexer("--queue-size", "2000", "--workers", "1")
    codes = {}
    for k in range(100):
        events = [{"action": "push", "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": f"flood/r{k}",
            "digest": "sha256:%064x" % (k * 100 + i), "tag": "t"}} for i in range(100)]
        code, _ = api("POST", "/events", json.dumps({"events": events}))
        codes[code] = codes.get(code, 0) + 1
    check(codes.get(200, 0) >= 19 and codes.get(503, 0) >= 1, f"flood answers: {codes}")
    rss = int(next(line.split()[1] for line in open(f"/proc/{S.ix.proc.pid}/status") if line.startswith("VmRSS")))
    check(rss < 96 * 1024, f"resident memory after the flood: {rss} KiB")
    s = status()
    check(s["queued_count"] + s["running_count"] <= 2000, f"queue over its bound: {s['queued_count']}")
    print(f"     flood: {codes}; {rss // 1024} MiB resident; {s['queued_count']} queued")
    check(S.ix.stop() == 0, "SIGTERM: exit status")
    check("msg=stopped" in S.ix.read_log(), "no clean stop in the log")
    S.ix = Indexer()


def main():
    S.tool, S.indexer = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    test_registry.TOOL = S.tool
    if not registry_fixture.available() or shutil.which("umoci") is None or shutil.which("skopeo") is None:
        print("SKIP: docker-registry, umoci or skopeo missing (ci/deps.sh installs them)")
        return 77
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        S.work = work
        S.port = registry_fixture.free_port()
        with open(f"{work}/secret", "w") as f:
            f.write(SECRET + "\n")
        notifications = [
            "notifications:",
            "  endpoints:",
            "    - name: soci-indexer",
            f"      url: http://127.0.0.1:{S.port}/events",
            "      headers:",
            f"        Authorization: [Bearer {SECRET}]",
            "      timeout: 2s",
            "      threshold: 3",
            "      backoff: 1s",
        ]
        S.reg = registry_fixture.Registry(work, auth_config=notifications)
        S.layout, S.rootfs = test_registry.make_image(work, "img")
        S.ix = Indexer()
        try:
            return run_cases([
                ("a pushed image is indexed; its files read lazily", test_push_indexed),
                ("the same image pushed twice: one index, no loop", test_push_twice),
                ("SIGKILL mid-build, restart: exactly one index each", test_killed_mid_build),
                ("the registry down for a while: retried, then indexed", test_registry_down),
                ("two platforms; zstd and eStargz layers", test_platforms_and_formats),
                ("the API over HTTPS", test_tls),
                ("options from a config file; a bad --listen", test_config_file),
                ("hostile requests and a flood of events", test_hostile),
            ])
        finally:
            if S.ix.proc.poll() is None:
                S.ix.stop()
            S.reg.stop()


if __name__ == "__main__":
    sys.exit(main())
