"""An image of many small files (100,000 by default), written straight into an OCI
layout with Python's tarfile and gzip: the metadata path's test and benchmark image.

make_layout(work, dirs, files_per_dir) -> (layout, tar_bytes, listing), where listing maps
every path the tar holds ("usr/share/d000/file-000.txt") to (kind, size), kind "d" or "f"
as find's %y prints them: the independent account a mount is compared with.
"""
import gzip
import hashlib
import io
import json
import os
import platform
import tarfile

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def make_tar(dirs, files_per_dir):
    buf = io.BytesIO()
    listing = {"usr": ("d", 0), "usr/share": ("d", 0)}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name in ("usr", "usr/share"):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
            t.addfile(ti)
        for d in range(dirs):
            ti = tarfile.TarInfo(f"usr/share/d{d:03d}")
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
            t.addfile(ti)
            listing[ti.name] = ("d", 0)
            for f in range(files_per_dir):
                data = f"{d}/{f}\n".encode() * (f % 7 + 1)
                ti = tarfile.TarInfo(f"usr/share/d{d:03d}/file-{f:03d}.txt")
                ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
                t.addfile(ti, io.BytesIO(data))
                listing[ti.name] = ("f", len(data))
    return buf.getvalue(), listing


def put_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{layout}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def make_layout(work, dirs=500, files_per_dir=200):
    layout = os.path.join(work, "many-files")
    os.makedirs(f"{layout}/blobs/sha256", exist_ok=True)
    raw, listing = make_tar(dirs, files_per_dir)
    layer = put_blob(layout, gzip.compress(raw, 6, mtime=0))
    config = put_blob(layout, json.dumps({
        "architecture": ARCH, "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]}}).encode())
    manifest = put_blob(layout, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
    with open(f"{layout}/oci-layout", "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(f"{layout}/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [dict(
            manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
            annotations={"org.opencontainers.image.ref.name": "img"},
            platform={"architecture": ARCH, "os": "linux"})]}, f)
    return layout, raw, listing


def find_listing(root):
    """What `find ROOT -printf '%P %y %s'` reports, as listing's form (directories size 0)."""
    out = {}
    for line in os.popen(f"find {root} -mindepth 1 -printf '%P\\t%y\\t%s\\n'").read().splitlines():
        path, kind, size = line.split("\t")
        out[path] = (kind, 0 if kind == "d" else int(size))
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
