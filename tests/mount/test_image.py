"""The multi-layer image the mount tests and the mount benchmark use, built with standard
tools: layer tars written by Python's tarfile (so whiteouts, opaque directories, PAX
xattrs, devices and odd names are exactly as asked), added with `umoci raw add-layer`,
indexed with soci-index. `umoci unpack` of the same image is the independent reference
the mounted tree is compared with.

Layer 0 is a small working system made of this machine's own files (dash as /bin/sh,
coreutils, their libraries, Debian's merged-/usr symlinks), so a program can run from the
mount, plus random data over many spans and every entry type. Layer 1 deletes, makes
opaque, replaces, re-owns and makes again what it deleted; layer 2 is small (no zTOC:
fetched whole) and does more of the same."""
import io
import os
import random
import shutil
import subprocess
import tarfile

PROGRAMS = ["dash", "cat", "ls", "sha256sum", "head", "wc", "env", "true", "find"]


def _add(tar, name, data=None, **kw):
    ti = tarfile.TarInfo(name)
    ti.mtime = kw.pop("mtime", 1700000000)
    ti.uid, ti.gid = kw.pop("owner", (0, 0))
    ti.uname = ti.gname = ""
    pax = kw.pop("xattrs", None)
    if pax:
        ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in pax.items()}
    for k, v in kw.items():
        setattr(ti, k, v)
    if data is not None:
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    else:
        tar.addfile(ti)


def _dir(tar, name, mode=0o755, **kw):
    _add(tar, name, type=tarfile.DIRTYPE, mode=mode, **kw)


def _file(tar, name, data, mode=0o644, **kw):
    _add(tar, name, data, type=tarfile.REGTYPE, mode=mode, **kw)


def _symlink(tar, name, target, **kw):
    _add(tar, name, type=tarfile.SYMTYPE, linkname=target, mode=0o777, **kw)


def _system_files():
    """This machine's programs and the libraries they load: {path in image: real path}."""
    files = {}
    for prog in PROGRAMS:
        path = shutil.which(prog) or f"/usr/bin/{prog}"
        files[os.path.realpath(path).lstrip("/")] = os.path.realpath(path)
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split("=>")[-1].split()
            if parts and parts[0].startswith("/"):
                real = os.path.realpath(parts[0])
                files[real.lstrip("/")] = real
                files[parts[0].lstrip("/")] = real  # also under the name the loader asks for
    return files


def _layer0(path, rnd, pullable):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _dir(tar, "./", mode=0o755)
        for d in ("usr", "usr/bin", "usr/lib", "usr/lib64", "usr/lib/x86_64-linux-gnu", "etc", "tmp", "dev"):
            _dir(tar, d + "/")
        for link in ("bin", "lib", "lib64", "sbin"):
            _symlink(tar, link, "usr/" + (link if link != "sbin" else "bin"))
        seen = set()
        for name, real in sorted(_system_files().items()):
            if name.startswith(("bin/", "lib/", "lib64/")):
                name = "usr/" + name  # merged /usr: /lib is a link to usr/lib
            if name in seen:
                continue
            seen.add(name)
            parent = os.path.dirname(name)
            if parent not in ("usr/bin", "usr/lib", "usr/lib64", "usr/lib/x86_64-linux-gnu"):
                _dir(tar, parent + "/")
            _file(tar, name, open(real, "rb").read(), mode=0o755)
        _symlink(tar, "usr/bin/sh", "dash")
        _file(tar, "etc/hostname", b"soci-test\n")
        _dir(tar, "data/", mode=0o755)
        for i in range(24):
            _file(tar, f"data/f{i:02d}", rnd.randbytes(rnd.randint(20000, 600000)))
        _file(tar, "data/big", rnd.randbytes(6 << 20))
        _file(tar, "data/text", b"lazy loading " * 50000)
        _file(tar, "data/empty", b"")
        _add(tar, "data/hard", type=tarfile.LNKTYPE, linkname="data/f02", mode=0o644)
        _symlink(tar, "data/rel", "f01")
        _symlink(tar, "data/abs", "/data/f05")
        _symlink(tar, "data/dangling", "nowhere")
        _symlink(tar, "data/loop1", "loop2")
        _symlink(tar, "data/loop2", "loop1")
        _symlink(tar, "data/escape", "../../../../etc/hostname")
        _file(tar, "data/setuid", b"#!/bin/sh\n", mode=0o4755)
        _file(tar, "data/private", b"secret\n", mode=0o600, owner=(1000, 1000))
        _file(tar, "data/owned", b"owned\n", mode=0o640, owner=(123, 456))
        _file(tar, "data/xattr", b"with attributes\n", xattrs={"user.test": "hello", "user.empty": ""})
        _dir(tar, "data/xdir/", xattrs={"user.dir": "d"})
        _add(tar, "data/fifo", type=tarfile.FIFOTYPE, mode=0o644)
        _add(tar, "dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
        long = "d" * 120
        _dir(tar, f"data/{long}/")
        _file(tar, f"data/{long}/{'n' * 150}", b"long names\n")
        _file(tar, "data/h\u00e9llo-\u4e16\u754c.txt", "unicode\n".encode())
        _dir(tar, "opq/")
        for n in ("a", "b"):
            _file(tar, f"opq/{n}", f"lower {n}\n".encode())
        _dir(tar, "opq/sub/")
        _file(tar, "opq/sub/deep", b"lower deep\n")
        _dir(tar, "gone/")
        _file(tar, "gone/x", rnd.randbytes(100000))
        _file(tar, "del", b"deleted above\n")
        _file(tar, "keep", b"kept\n")
        if not pullable:
            # Last, so that the next layer's first entry goes where this one went once its
            # whiteouts removed that directory: the tree build must not reuse it.
            _file(tar, "tail/dir/end", b"whited out above\n")


def _layer1(path, rnd, pullable):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _file(tar, ".wh.del", b"")
        _file(tar, ".wh.gone", b"")
        if not pullable:  # made again, as implied directories, right after the whiteout
            _file(tar, ".wh.tail", b"")
            _file(tar, "tail/dir/new", b"under directories made again\n")
        _dir(tar, "opq/", mode=0o750)
        _file(tar, "opq/.wh..wh..opq", b"")
        _file(tar, "opq/c", b"upper c\n")
        _dir(tar, "data/", mode=0o711, owner=(5, 6))
        _file(tar, "data/f01", b"replaced in layer 1\n")
        _file(tar, "data/f02", b"f02 replaced; data/hard keeps the old bytes\n")
        _file(tar, "data/more", rnd.randbytes(3 << 20))
        _file(tar, "newdir/implied", b"parent not listed\n")
        _dir(tar, "gone/")  # recreated empty after its whiteout... in the same layer
        _file(tar, "gone/fresh", b"fresh\n")


def _layer2(path):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _file(tar, "data/.wh.f00", b"")
        _symlink(tar, "data/f03", "f04")           # a file becomes a symlink
        _dir(tar, "data/rel/")                      # a symlink becomes a directory
        _file(tar, "data/rel/inside", b"inside\n")
        _file(tar, "keep", b"kept, changed\n", mode=0o600)
        _file(tar, "opq/.wh.c", b"")


def build(work, tool, name="img", pullable=False):
    """Build the image as an OCI layout with its SOCI index; returns (layout, rootfs).
    pullable: leave out the directories layer 1 makes again, implied by an entry right
    after their whiteout, which podman's own pull refuses ("not a directory")."""
    rnd = random.Random(5)
    layout = f"{work}/{name}"
    subprocess.run(["umoci", "init", "--layout", layout], check=True, capture_output=True)
    subprocess.run(["umoci", "new", "--image", f"{layout}:img"], check=True, capture_output=True)
    for i, make in enumerate((lambda p: _layer0(p, rnd, pullable), lambda p: _layer1(p, rnd, pullable), _layer2)):
        tar = f"{work}/{name}-layer{i}.tar"
        make(tar)
        subprocess.run(["umoci", "raw", "add-layer", "--image", f"{layout}:img", tar], check=True,
                       capture_output=True)
        os.remove(tar)
    bundle = f"{work}/{name}-bundle"  # unpacked before indexing: umoci reads single-manifest tags only
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:img", bundle], check=True, capture_output=True)
    subprocess.run([tool, "create", "--span-size", "256K", "--min-layer-size", "1M", f"{layout}:img"], check=True,
                   capture_output=True)
    return layout, f"{bundle}/rootfs"


def recompress(work, layout, name, encode):
    """A copy of the image whose layers are encode(tar, is_largest) -> (blob, media type,
    annotations, diff_id or None when the tar is unchanged), under the tag "img", with no
    SOCI index. Returns the new layout."""
    import gzip
    import hashlib
    import json
    out = f"{work}/{name}"
    shutil.copytree(layout, out)
    blobs = f"{out}/blobs/sha256"

    def read_json(digest):
        return json.load(open(f"{blobs}/{digest[7:]}"))

    def write_blob(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(f"{blobs}/{digest}", "wb") as f:
            f.write(data)
        return f"sha256:{digest}", len(data)

    index = json.load(open(f"{out}/index.json"))
    desc = next(m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "img")
    manifest = read_json(desc["digest"])
    if "manifests" in manifest:  # indexed already (v2): start from the image manifest
        inner = next(m for m in manifest["manifests"] if "artifactType" not in m)
        manifest = read_json(inner["digest"])
    config = read_json(manifest["config"]["digest"])
    sizes = [layer["size"] for layer in manifest["layers"]]
    for i, layer in enumerate(manifest["layers"]):
        tar = gzip.decompress(open(f"{blobs}/{layer['digest'][7:]}", "rb").read())
        data, media_type, annotations, diff_id = encode(tar, layer["size"] == max(sizes))
        layer["digest"], layer["size"] = write_blob(data)
        layer["mediaType"] = media_type
        layer.pop("annotations", None)
        if annotations:
            layer["annotations"] = annotations
        if diff_id:
            config["rootfs"]["diff_ids"][i] = diff_id
    manifest["config"]["digest"], manifest["config"]["size"] = write_blob(json.dumps(config).encode())
    manifest.pop("annotations", None)
    m_digest, m_size = write_blob(json.dumps(manifest).encode())
    index["manifests"] = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m_digest,
                           "size": m_size, "annotations": {"org.opencontainers.image.ref.name": "img"}}]
    with open(f"{out}/index.json", "w") as f:
        json.dump(index, f)
    return out


def zstd_variant(work, layout, tool, name="img-zstd"):
    """The same image with every layer recompressed as zstd (libsoci's extension): the
    largest with pzstd (many frames: lazy), the others with plain zstd (one frame each),
    then indexed. The tars inside are byte for byte those of the gzip image, so
    `umoci unpack` of that image stays the reference. Returns the new layout."""
    def encode(tar, largest):
        cmd = ["pzstd", "-q", "-c", "-p", "2", "-3"] if largest else ["zstd", "-q", "-c", "-3"]
        data = subprocess.run(cmd, input=tar, capture_output=True, check=True).stdout
        return data, "application/vnd.oci.image.layer.v1.tar+zstd", None, None
    out = recompress(work, layout, name, encode)
    subprocess.run([tool, "create", "--span-size", "256K", "--min-layer-size", "1M", f"{out}:img"], check=True,
                   capture_output=True)
    return out


def estargz_variant(work, layout, name="img-estargz"):
    """The image converted to eStargz, no SOCI index: the largest layer and the next with
    their TOC annotation (lazy), the smallest as a plain gzip layer (fetched whole)."""
    import chunked_formats
    import gzip

    def encode(tar, largest):
        if len(tar) < 64 << 10:
            return gzip.compress(tar, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip", None, None
        blob, toc_digest, diff_id = chunked_formats.estargz(tar)
        return (blob, "application/vnd.oci.image.layer.v1.tar+gzip",
                {"containerd.io/snapshot/stargz/toc.digest": toc_digest}, diff_id)
    return recompress(work, layout, name, encode)


def zstd_chunked_variant(work, layout, name="img-zstd-chunked"):
    """The image converted to zstd:chunked, no SOCI index: every layer with its manifest
    annotations, except that the largest leaves out manifest-position so its footer is
    read instead."""
    import chunked_formats

    def encode(tar, largest):
        blob, annotations = chunked_formats.zstd_chunked(tar)
        if largest:
            del annotations[chunked_formats.POSITION]
        return blob, "application/vnd.oci.image.layer.v1.tar+zstd", annotations, None
    return recompress(work, layout, name, encode)
