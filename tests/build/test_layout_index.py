#!/usr/bin/env python3
"""soci-index create / index info / index list on OCI layouts made by umoci and skopeo.

Usage: test_layout_index.py SOCI_INDEX

Checks the SOCI index manifests against the format (media types, annotations, Go's
compact key order), that the zTOCs stored describe the right layers (every file read
through them matches Python's tarfile), small layers are skipped, v1 indexes appear in
index.json and the referrers fallback tag, v2 indexes are bound into a new image index
the tag names, and platforms are chosen as asked.
"""
import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pyharness  # noqa: E402
from pyharness import check, run_cases  # noqa: E402


def run(*args, ok=True):
    return pyharness.run(*args, ok=ok, text=True)

EMPTY = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
MANIFEST_KEYS = ["schemaVersion", "mediaType", "config", "layers", "annotations"]


def blob(layout, digest):
    return open(f"{layout}/blobs/sha256/{digest.split(':')[1]}", "rb").read()


def jblob(layout, digest):
    return json.loads(blob(layout, digest))


def make_image(work, name):
    """An umoci image: one big layer (random data, ~12 MiB), then one small layer."""
    layout, bundle = f"{work}/{name}", f"{work}/{name}-bundle"
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:img")
    run("umoci", "unpack", "--image", f"{layout}:img", bundle)
    rnd = random.Random(5)
    os.makedirs(f"{bundle}/rootfs/data")
    for i in range(40):
        with open(f"{bundle}/rootfs/data/f{i}", "wb") as f:
            f.write(rnd.randbytes(300000))
    run("umoci", "repack", "--image", f"{layout}:img", bundle)
    shutil.rmtree(bundle)  # repack diffs against the unpack: unpack again for a second layer
    run("umoci", "unpack", "--image", f"{layout}:img", bundle)
    with open(f"{bundle}/rootfs/data/small", "w") as f:
        f.write("small layer\n")
    run("umoci", "repack", "--image", f"{layout}:img", bundle)
    return layout


def image_manifest(layout, tag="img"):
    idx = json.load(open(f"{layout}/index.json"))
    d = next(m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    return d


def check_index_manifest(layout, digest, version, tool, manifest):
    raw = blob(layout, digest)
    ix = json.loads(raw)
    check(raw == json.dumps(ix, separators=(",", ":"), ensure_ascii=False).encode(), "index JSON is not compact Go form")
    want_keys = MANIFEST_KEYS[:4] + (["subject"] if version == 1 else []) + ["annotations"]
    check(list(ix) == want_keys, f"index keys {list(ix)}")
    check(ix["config"] == {"mediaType": f"application/vnd.amazon.soci.index.v{version}+json", "digest": EMPTY, "size": 2},
          f"config {ix['config']}")
    check(blob(layout, EMPTY) == b"{}", "empty config blob")
    check(ix["annotations"] == {"com.amazon.soci.build-tool-identifier": tool}, f"annotations {ix['annotations']}")
    layers = manifest["layers"]
    big = [l for l in layers if l["size"] >= 10 << 20]
    check(len(ix["layers"]) == len(big) == 1, f"{len(ix['layers'])} zTOCs for {len(big)} big layers")
    for z in ix["layers"]:
        ann = z["annotations"]
        check(list(z) == ["mediaType", "digest", "size", "annotations"], f"descriptor keys {list(z)}")
        check(z["mediaType"] == "application/octet-stream", "zTOC media type")
        check(list(ann) == sorted(ann), "annotation keys not sorted")
        check(ann["com.amazon.soci.image-layer-digest"] == big[0]["digest"], "zTOC names the wrong layer")
        check(ann["com.amazon.soci.image-layer-mediaType"] == big[0]["mediaType"], "layer media type")
        check(ann["com.amazon.soci.span-size"] == "4194304", "span size annotation")
        data = blob(layout, z["digest"])
        check(len(data) == z["size"] and "sha256:" + hashlib.sha256(data).hexdigest() == z["digest"], "zTOC blob")
        check_ztoc_reads_layer(layout, z["digest"], big[0]["digest"])
    return ix


def check_ztoc_reads_layer(layout, ztoc_digest, layer_digest):
    ztoc = f"{layout}/blobs/sha256/{ztoc_digest.split(':')[1]}"
    layer = f"{layout}/blobs/sha256/{layer_digest.split(':')[1]}"
    out = run(TOOL, "ztoc", "checksum", ztoc, layer).stdout
    got = dict(reversed(line.split("  ", 1)) for line in out.splitlines())
    with tarfile.open(layer) as tf:
        want = {m.name: hashlib.sha256(tf.extractfile(m).read()).hexdigest() for m in tf.getmembers() if m.isfile()}
    check({k.lstrip("./"): v for k, v in got.items()} == {k.lstrip("./"): v for k, v in want.items()},
          "files read through the stored zTOC differ from tarfile")


def test_v1(work):
    layout = make_image(work, "v1")
    mdesc = image_manifest(layout)
    manifest = jblob(layout, mdesc["digest"])
    p = run(TOOL, "create", "--format", "v1", "--build-tool-identifier", "libsoci test", f"{layout}:img")
    digest = p.stdout.strip().splitlines()[-1]
    check("skipped" in p.stdout, "the small layer was not reported as skipped")
    ix = check_index_manifest(layout, digest, 1, "libsoci test", manifest)
    check(ix["subject"] == {"mediaType": mdesc["mediaType"], "digest": mdesc["digest"], "size": mdesc["size"]},
          f"subject {ix.get('subject')}")
    idx = json.load(open(f"{layout}/index.json"))
    listed = [m for m in idx["manifests"] if m["digest"] == digest]
    check(len(listed) == 1 and listed[0].get("artifactType") == "application/vnd.amazon.soci.index.v1+json",
          "v1 index not listed in index.json")
    fallback = image_manifest(layout, "sha256-" + mdesc["digest"].split(":")[1])
    referrers = jblob(layout, fallback["digest"])
    check([m["digest"] for m in referrers["manifests"]] == [digest], "referrers fallback tag")
    check(image_manifest(layout)["digest"] == mdesc["digest"], "v1 must leave the image tag alone")
    info = json.loads(run(TOOL, "index", "info", "--json", f"{layout}@{digest}").stdout)
    check(info["version"] == "v1" and info["subject"]["digest"] == mdesc["digest"], "index info v1")
    listing = json.loads(run(TOOL, "index", "list", "--json", layout).stdout)
    check([x["digest"] for x in listing] == [digest], f"index list {listing}")
    # Building again is idempotent: same index, listed once.
    again = run(TOOL, "create", "--format", "v1", "--build-tool-identifier", "libsoci test", f"{layout}:img")
    check(again.stdout.strip().splitlines()[-1] == digest, "rebuilding gave another index")
    check(len(json.loads(run(TOOL, "index", "list", "--json", layout).stdout)) == 1, "index listed twice")


def test_v2(work):
    layout = make_image(work, "v2")
    mdesc = image_manifest(layout)
    manifest = jblob(layout, mdesc["digest"])
    config = jblob(layout, manifest["config"]["digest"])
    image_index_digest = run(TOOL, "create", f"{layout}:img").stdout.strip().splitlines()[-1]
    top = image_manifest(layout)
    check(top["digest"] == image_index_digest and top["mediaType"] == "application/vnd.oci.image.index.v1+json",
          "the tag must name the new image index")
    image_index = jblob(layout, image_index_digest)
    check(len(image_index["manifests"]) == 2, "image index holds the image and its SOCI index")
    img, soci = image_index["manifests"]
    check(img["platform"] == {"architecture": config["architecture"], "os": config["os"]}, "image platform")
    check(soci["artifactType"] == "application/vnd.amazon.soci.index.v2+json", "SOCI index artifact type")
    check(soci["annotations"] == {"com.amazon.soci.image-manifest-digest": img["digest"]}, "manifest digest annotation")
    check(soci["platform"] == img["platform"], "SOCI index platform")
    new_manifest = jblob(layout, img["digest"])
    check(new_manifest["annotations"]["com.amazon.soci.index-digest"] == soci["digest"], "index digest annotation")
    check(img["annotations"] == new_manifest["annotations"], "descriptor annotations")
    check(new_manifest["layers"] == manifest["layers"], "layers changed")
    check_index_manifest(layout, soci["digest"], 2, "AWS SOCI CLI v0.2", manifest)
    info = json.loads(run(TOOL, "index", "info", "--json", layout).stdout)
    check(info["digest"] == soci["digest"] and "subject" not in info, "index info v2")
    return layout


def test_platforms_and_skopeo(work, v2_layout):
    """A two-platform image index made by hand from one image, copied by skopeo."""
    layout = make_image(work, "multi")
    mdesc = image_manifest(layout)
    manifests = []
    for arch in ("amd64", "arm64"):
        d = {k: mdesc[k] for k in ("mediaType", "digest", "size")}
        d["platform"] = {"architecture": arch, "os": "linux"}
        manifests.append(d)
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": manifests}, separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    open(f"{layout}/blobs/sha256/{digest[7:]}", "wb").write(index)
    idx = json.load(open(f"{layout}/index.json"))
    idx["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest,
                         "size": len(index), "annotations": {"org.opencontainers.image.ref.name": "img"}}]
    json.dump(idx, open(f"{layout}/index.json", "w"))
    if shutil.which("skopeo"):
        run("skopeo", "copy", "--all", f"oci:{layout}:img", f"oci:{work}/copied:img")
        layout = f"{work}/copied"
    run(TOOL, "create", "--platform", "linux/arm64", f"{layout}:img")
    listing = json.loads(run(TOOL, "index", "list", "--json", layout).stdout)
    check([x["platform"] for x in listing] == ["linux/arm64"], f"--platform: {listing}")
    run(TOOL, "create", "--all-platforms", f"{layout}:img")
    listing = json.loads(run(TOOL, "index", "list", "--json", layout).stdout)
    check(sorted(x["platform"] for x in listing) == ["linux/amd64", "linux/arm64"], f"--all-platforms: {listing}")
    p = run(TOOL, "create", "--platform", "linux/s390x", f"{layout}:img", ok=False)
    check(p.returncode != 0 and "skipped" in p.stderr or "no zTOC" in p.stderr, f"unknown platform: {p.stderr}")


def test_errors(work, v2_layout):
    p = run(TOOL, "create", f"{work}/nope:img", ok=False)
    check(p.returncode != 0 and "not an OCI image layout" in p.stderr, f"missing layout: {p.stderr}")
    p = run(TOOL, "create", f"{v2_layout}:nosuchtag", ok=False)
    check(p.returncode != 0 and "nosuchtag" in p.stderr, f"missing tag: {p.stderr}")
    p = run(TOOL, "create", "--min-layer-size", str(1 << 40), f"{v2_layout}:img", ok=False)
    check(p.returncode != 0 and "no zTOC" in p.stderr, f"all layers skipped: {p.stderr}")
    # A layer whose bytes do not match its digest is refused.
    layout = make_image(work, "corrupt")
    manifest = jblob(layout, image_manifest(layout)["digest"])
    big = max(manifest["layers"], key=lambda l: l["size"])
    path = f"{layout}/blobs/sha256/{big['digest'][7:]}"
    data = bytearray(open(path, "rb").read())
    data[4] ^= 0xFF  # the gzip header's MTIME: inflates the same, but the digest differs
    os.chmod(path, 0o644)
    open(path, "wb").write(data)
    p = run(TOOL, "create", f"{layout}:img", ok=False)
    check(p.returncode != 0 and "content is" in p.stderr, f"corrupt layer: {p.stderr}")


def main():
    global TOOL
    TOOL = os.path.abspath(sys.argv[1])
    if shutil.which("umoci") is None:
        print("SKIP: umoci is not installed (ci/deps.sh installs it)")
        return 77
    with tempfile.TemporaryDirectory() as work:
        v2 = {}
        return run_cases([
            ("v1 index", lambda: test_v1(work)),
            ("v2 index", lambda: v2.setdefault("layout", test_v2(work))),
            ("platforms and skopeo", lambda: test_platforms_and_skopeo(work, v2.get("layout"))),
            ("errors", lambda: test_errors(work, v2.get("layout"))),
        ])


if __name__ == "__main__":
    sys.exit(main())
