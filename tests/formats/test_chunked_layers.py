"""eStargz and zstd:chunked layers read through the image API (Python binding), compared
with Python's tarfile reading the same tar: every entry's type, mode, owner, mtime, link
target, xattrs and bytes. Then the hostile cases: a TOC that does not match its
annotation, a TOC that lies, a corrupt chunk.

Layers come from tests/mount/chunked_formats.py, encoders written from the formats'
descriptions."""
import hashlib
import io
import json
import os
import random
import stat
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "mount"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
from pyharness import check, run_cases  # noqa: E402
import chunked_formats  # noqa: E402
import soci  # noqa: E402

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest"


def make_tar():
    """Every entry type, a file of many chunks, a run of small files (eStargz packs them
    into shared members), a sparse-looking file of zeros, xattrs, long names."""
    rnd = random.Random(9)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add(name, kind=tarfile.REGTYPE, data=b"", **kw):
            ti = tarfile.TarInfo(name)
            ti.type, ti.size, ti.mtime, ti.mode = kind, len(data), 1700000000 + len(t.getmembers()), kw.pop("mode", 0o644)
            ti.uid, ti.gid, ti.uname, ti.gname = kw.pop("uid", 0), kw.pop("gid", 0), "root", "root"
            for k, v in kw.items():
                setattr(ti, k, v)
            t.addfile(ti, io.BytesIO(data) if data else None)
        add("etc/", tarfile.DIRTYPE, mode=0o755)
        add("etc/big.bin", data=rnd.randbytes(700_000))
        for i in range(40):
            add(f"etc/small{i:02d}.conf", data=f"setting {i} = {rnd.random()}\n".encode() * (i + 1), mode=0o600,
                uid=i, gid=1000 + i)
        add("etc/empty")
        add("etc/zeros", data=bytes(300_000))
        add("etc/link", tarfile.SYMTYPE, linkname="big.bin", mode=0o777)
        add("etc/hard", tarfile.LNKTYPE, linkname="etc/small01.conf")
        add("dev/", tarfile.DIRTYPE, mode=0o755)
        add("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
        add("dev/fifo", tarfile.FIFOTYPE)
        add("x" * 150 + "/" + "y" * 120, data=b"long name\n")
        add("caps", data=b"\x7fELF", pax_headers={"SCHILY.xattr.user.note": "hello",
                                                   "SCHILY.xattr.security.capability": "\x01\x00\x00\x02"})
    return buf.getvalue()


def write_layout(work, name, layers):
    """An OCI layout holding one image: layers = [(blob, media type, annotations, diff_id)]."""
    root = f"{work}/{name}"
    os.makedirs(f"{root}/blobs/sha256")

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(f"{root}/blobs/sha256/{digest}", "wb") as f:
            f.write(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    config = blob(json.dumps({"architecture": "amd64", "os": "linux",
                              "rootfs": {"type": "layers", "diff_ids": [d for *_, d in layers]}}).encode())
    descs = []
    for data, media_type, annotations, _ in layers:
        d = dict(blob(data), mediaType=media_type)
        if annotations:
            d["annotations"] = annotations
        descs.append(d)
    manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
                                "layers": descs}).encode())
    with open(f"{root}/oci-layout", "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(f"{root}/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [dict(manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
                                                          annotations={"org.opencontainers.image.ref.name": "img"})]}, f)
    return f"{root}:img"


def gzip_layer(tar_bytes):
    import gzip
    return gzip.compress(tar_bytes, mtime=0)


def retag(layout, name):
    """Give the layout's image the reference name name (as containerd's import wants)."""
    with open(f"{layout}/index.json") as f:
        index = json.load(f)
    index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = name
    with open(f"{layout}/index.json", "w") as f:
        json.dump(index, f)


def compare(img, tar_bytes, what):
    """Every tar entry as the image shows it, against tarfile."""
    bad = []
    for ti in tarfile.open(fileobj=io.BytesIO(tar_bytes)):
        path = ti.name.rstrip("/")
        st = img.lstat(path)
        want_type = {tarfile.REGTYPE: stat.S_IFREG, tarfile.LNKTYPE: stat.S_IFREG, tarfile.DIRTYPE: stat.S_IFDIR,
                     tarfile.SYMTYPE: stat.S_IFLNK, tarfile.CHRTYPE: stat.S_IFCHR,
                     tarfile.FIFOTYPE: stat.S_IFIFO}[ti.type]
        if stat.S_IFMT(st.st_mode) != want_type or (ti.type != tarfile.LNKTYPE and (
                stat.S_IMODE(st.st_mode) != ti.mode or st.st_uid != ti.uid or st.st_gid != ti.gid or
                int(st.st_mtime) != int(ti.mtime))):
            bad.append(f"{path}: metadata {oct(st.st_mode)} {st.st_uid}:{st.st_gid} {st.st_mtime}")
        if ti.issym() and img.readlink(path) != ti.linkname:
            bad.append(f"{path}: link target")
        if ti.isreg():
            data = tarfile.open(fileobj=io.BytesIO(tar_bytes)).extractfile(ti.name).read()
            with img.open(path) as f:
                if f.read() != data:
                    bad.append(f"{path}: bytes")
        for key, value in ti.pax_headers.items():
            if key.startswith("SCHILY.xattr.") and \
                    img.getxattr(path, key[13:]) != value.encode("utf-8", "surrogateescape"):
                bad.append(f"{path}: xattr {key[13:]}")
    check(not bad, f"{what}: {bad[:5]}")


def lazy_path(img):
    return [layer["lazy_path"] for layer in img.info()["layers"]]


def check_lazy(ref, tar, blob_size, path, want, toc_digest, diff_id):
    """The layer is read through its own TOC (want), one small file costs a small part of
    it, and then every entry matches tarfile. The image names the layer's TOC digest (its
    annotation) and its diff_id (the uncompressed stream's sha256, as the config has it)."""
    with soci.Image.open(ref) as img:
        check(lazy_path(img) == [want], f"lazy paths {lazy_path(img)}")
        layer = img.info()["layers"][0]
        check(layer["toc_digest"] == toc_digest, f"toc_digest {layer['toc_digest']!r}, annotation {toc_digest!r}")
        check(layer["diff_id"] == diff_id, f"diff_id {layer['diff_id']!r}, want {diff_id!r}")
        with img.open(path) as f:
            f.read()
        fetched = img.counters()["bytes_fetched"]
        check(fetched < blob_size // 4, f"one small file cost {fetched} of {blob_size} bytes")
        compare(img, tar, want)
        check(lazy_path(img) == [want], f"still {want} after reading")


def test_estargz(work, tar):
    blob, toc_digest, diff_id = chunked_formats.estargz(tar, chunk_size=64 << 10)
    ref = write_layout(work, "estargz", [(blob, GZIP, {TOC_DIGEST: toc_digest}, diff_id)])
    check_lazy(ref, tar, len(blob), "etc/small07.conf", "estargz", toc_digest, diff_id)


def test_zstd_chunked(work, tar):
    blob, annotations = chunked_formats.zstd_chunked(tar, chunk_size=64 << 10)
    ref = write_layout(work, "zstd-chunked", [(blob, ZSTD, annotations, chunked_formats.sha256(tar))])
    check_lazy(ref, tar, len(blob), "caps", "zstd:chunked", annotations[chunked_formats.CHECKSUM],
               chunked_formats.sha256(tar))
    # Without manifest-position the footer says where the manifest is.
    del annotations[chunked_formats.POSITION]
    ref = write_layout(work, "zstd-chunked-footer", [(blob, ZSTD, annotations, chunked_formats.sha256(tar))])
    with soci.Image.open(ref) as img:
        compare(img, tar, "zstd:chunked via its footer")
        check(lazy_path(img) == ["zstd:chunked"], f"lazy paths {lazy_path(img)}")


def test_toc_mismatch(work, tar):
    """A TOC that does not hash to its annotation is not used: the layer is fetched whole
    (its digest vouches for it) and reads stay right."""
    blob, toc_digest, diff_id = chunked_formats.estargz(tar)
    wrong = "sha256:" + "0" * 64
    zblob, zann = chunked_formats.zstd_chunked(tar)
    zann[chunked_formats.CHECKSUM] = wrong
    ref = write_layout(work, "mismatch", [(blob, GZIP, {TOC_DIGEST: wrong}, diff_id),
                                          (zblob, ZSTD, zann, chunked_formats.sha256(tar))])
    with soci.Image.open(ref) as img:  # opens every layer
        compare(img, tar, "TOC digest mismatch")
        check(lazy_path(img) == ["whole", "whole"], f"after opening: {lazy_path(img)}")


def test_lying_toc(work, tar):
    """TOCs whose digests match but whose contents lie (chunks out of order, a chunk with
    no digest, offsets past the data, a chunk claiming another's bytes) are refused, the
    layers fetched whole; a chunk whose digest is wrong fails that read with an error."""
    cases = []
    blob, annotations = chunked_formats.zstd_chunked(tar)
    toc = json.loads(open_zstd_manifest(blob, annotations))

    def variant(edit):
        t = json.loads(json.dumps(toc))
        edit(t["entries"])
        return t

    def first_chunk(entries, name="etc/big.bin"):
        return next(e for e in entries if e["name"] == name)

    cases.append(("no digest", variant(lambda es: first_chunk(es).pop("chunkDigest"))))
    cases.append(("past the data", variant(lambda es: first_chunk(es).update(offset=len(blob)))))
    cases.append(("backwards", variant(lambda es: first_chunk(es, "caps").update(offset=1))))
    cases.append(("gap in a file", variant(lambda es: [e for e in es if e.get("type") == "chunk"][0].update(
        chunkOffset=1))))
    for what, t in cases:
        lblob, lann = rewrap_zstd_manifest(blob, annotations, json.dumps(t).encode())
        ref = write_layout(work, f"lying-{what.replace(' ', '-')}", [(lblob, ZSTD, lann, chunked_formats.sha256(tar))])
        with soci.Image.open(ref) as img:
            compare(img, tar, f"lying TOC ({what})")
            check(lazy_path(img) == ["whole"], f"{what}: {lazy_path(img)}")
    # A digest that matches nothing: the read fails, nothing unverified is returned.
    t = variant(lambda es: first_chunk(es, "caps").update(digest="sha256:" + "1" * 64))
    lblob, lann = rewrap_zstd_manifest(blob, annotations, json.dumps(t).encode())
    ref = write_layout(work, "wrong-chunk-digest", [(lblob, ZSTD, lann, chunked_formats.sha256(tar))])
    with soci.Image.open(ref) as img:
        try:
            with img.open("caps") as f:
                f.read()
            check(False, "a chunk that fails its digest was served")
        except soci.DigestError:
            pass
        with img.open("etc/small03.conf") as f:
            check(f.read().startswith(b"setting 3"), "other files still read")


def corrupt_estargz_layout(work, tar, name):
    """An eStargz layout whose layer has a byte changed inside etc/big.bin's chunks (the
    blob's own digest is of the changed bytes, so only the chunk digest can tell)."""
    blob, toc_digest, diff_id = chunked_formats.estargz(tar, chunk_size=64 << 10)
    toc_offset = int(blob[-51 + 16:-51 + 32], 16)
    bad = bytearray(blob)
    bad[toc_offset // 3] ^= 0x55  # inside etc/big.bin's members
    return write_layout(work, name, [(bytes(bad), GZIP, {TOC_DIGEST: toc_digest}, diff_id)])


def read_fails(img, path, what):
    try:
        with img.open(path) as f:
            f.read()
        check(False, what)
    except (soci.DigestError, soci.FormatError):
        pass


def test_corrupt_chunk(work, tar):
    """A layer with a corrupt chunk: that file fails, the others read."""
    with soci.Image.open(corrupt_estargz_layout(work, tar, "corrupt")) as img:
        read_fails(img, "etc/big.bin", "a corrupt chunk was served")
        with img.open("caps") as f:
            check(f.read() == b"\x7fELF", "another file of the layer still reads")


def test_corrupt_chunk_stored(work, tar):
    """Chunks fetched ahead go to the disk store unchecked (checking a chunk means
    decoding it, which the read that loads it does again): background fetching stores the
    corrupt chunk too, and the read that loads it drops it, fetches it again, and fails
    rather than serve it. The other files read from the store."""
    ref = corrupt_estargz_layout(work, tar, "corrupt-stored")
    with tempfile.TemporaryDirectory(dir=work) as cache, soci.Image.open(ref, cache_dir=cache) as img:
        img.background_fetch(True)
        stored, still = -1, 0
        for _ in range(300):  # it starts 3 s after opening when nothing reads; then until it stops adding
            time.sleep(0.1)
            n = img.counters()["background_spans"]
            still = still + 1 if n == stored and n > 0 else 0
            stored = n
            if still >= 10:
                break
        img.background_fetch(False)
        check(stored > 0, "background fetching stored nothing")
        read_fails(img, "etc/big.bin", "a corrupt chunk was served from the store")
        check(img.counters()["disk_corrupt"] >= 1, f"corrupt store entries dropped: {img.counters()['disk_corrupt']}")
        fetched = img.counters()["bytes_fetched"]
        with img.open("caps") as f:
            check(f.read() == b"\x7fELF", "another file of the layer reads from the store")
        check(img.counters()["bytes_fetched"] == fetched, "another file of the layer was fetched again")


def open_zstd_manifest(blob, annotations):
    off, length, size, _ = map(int, annotations[chunked_formats.POSITION].split(":"))
    import ctypes
    z = ctypes.CDLL("libzstd.so.1")
    z.ZSTD_decompress.restype = ctypes.c_size_t
    z.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    out = ctypes.create_string_buffer(size)
    n = z.ZSTD_decompress(out, size, blob[off:off + length], length)
    return out.raw[:n]


def rewrap_zstd_manifest(blob, annotations, manifest):
    """The blob with its manifest replaced (appended after the data, footer rewritten)."""
    import struct
    off, length, _, _ = map(int, annotations[chunked_formats.POSITION].split(":"))
    data = blob[:off - 8]
    compressed = chunked_formats.zstd_frame(manifest)
    new_off = len(data) + 8
    data += struct.pack("<II", 0x184D2A50, len(compressed)) + compressed
    data += struct.pack("<II", 0x184D2A50, 64) + struct.pack("<7Q", new_off, len(compressed), len(manifest), 1,
                                                             0, 0, 0) + b"GNUlInUx"
    return data, {chunked_formats.CHECKSUM: chunked_formats.sha256(compressed),
                  chunked_formats.POSITION: f"{new_off}:{len(compressed)}:{len(manifest)}:1"}


def main():
    tar = make_tar()
    with tempfile.TemporaryDirectory() as work:
        return run_cases([
            ("eStargz: every entry vs tarfile, one file fetched lazily", lambda: test_estargz(work, tar)),
            ("zstd:chunked: annotations and footer", lambda: test_zstd_chunked(work, tar)),
            ("TOC not matching its annotation: fetched whole", lambda: test_toc_mismatch(work, tar)),
            ("lying TOCs refused, wrong chunk digests fail reads", lambda: test_lying_toc(work, tar)),
            ("a corrupt chunk is not served", lambda: test_corrupt_chunk(work, tar)),
            ("a corrupt chunk fetched ahead is stored, dropped when read, not served",
             lambda: test_corrupt_chunk_stored(work, tar)),
        ])


if __name__ == "__main__":
    sys.exit(main())
