#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/ from real inputs: the reference vectors
(zTOCs, their checkpoints and spans), layers and images made with Python's tarfile,
umoci and soci-index, and header, reference and config samples of the forms registries
and docker use. The output is committed; run this again only to change the seeds.

usage: fuzz/make_corpus.py SOCI_INDEX [VECTORS]    (with the Python binding importable)
"""
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bindings", "python"))
import soci  # noqa: E402

OUT = os.path.join(HERE, "corpus")


def put(harness, name, data):
    folder = os.path.join(OUT, f"fuzz_{harness}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def small_tar(kind):
    """Small tars with every entry type and header form the parsers meet."""
    buf = io.BytesIO()
    fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}[kind]
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        def add(name, data=None, **kw):
            ti = tarfile.TarInfo(name)
            for k, v in kw.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
        add("etc/", type=tarfile.DIRTYPE, mode=0o755)
        add("etc/passwd", b"root:x:0:0::/root:/bin/sh\n" * 20, mode=0o644)
        add("etc/link", type=tarfile.SYMTYPE, linkname="passwd")
        add("etc/hard", type=tarfile.LNKTYPE, linkname="etc/passwd")
        add("dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        add("fifo", type=tarfile.FIFOTYPE)
        if kind != "ustar":
            add("long/" + "n" * 150, b"long name\n")
            add("loop1", type=tarfile.SYMTYPE, linkname="loop2")
            add("loop2", type=tarfile.SYMTYPE, linkname="/loop1")
            add("up", type=tarfile.SYMTYPE, linkname="../../../etc/passwd")
        if kind == "pax":
            ti = tarfile.TarInfo("attrs")
            ti.pax_headers = {"SCHILY.xattr.user.a": "1", "mtime": "1700000000.5", "comment": "x"}
            ti.size = 3
            t.addfile(ti, io.BytesIO(b"abc"))
    return buf.getvalue()


def whiteout_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in (".wh.fifo", "etc/.wh..wh..opq", "etc/.wh.passwd"):
            t.addfile(tarfile.TarInfo(name))
        ti = tarfile.TarInfo("etc/new")
        ti.size = 4
        t.addfile(ti, io.BytesIO(b"new\n"))
    return buf.getvalue()


def vectors_seeds(vectors):
    for case, span in (("tiny-gzip6", 65536), ("empty-gzip6", 65536), ("alltypes-pax-uncompressed", 65536),
                       ("alltypes-pax-gzip6", 1048576)):
        path = os.path.join(vectors, case, f"span-{span}.ztoc")
        put("ztoc", f"{case}-{span}", open(path, "rb").read())
        put("erofs", f"{case}-{span}", open(path, "rb").read())
    # Checkpoints and spans of a real gzip layer, with their true windows.
    case = os.path.join(vectors, "alltypes-pax-gzip6")
    gz = open(os.path.join(case, "layer.tar.gz"), "rb").read()
    tar = gzip.decompress(gz)
    want = json.load(open(os.path.join(case, "span-1048576.json")))
    cps = want["checkpoints"]
    for i, cp in enumerate(cps[:3]):
        start = cp["in"] - (1 if cp["bits"] else 0)
        end = cps[i + 1]["in"] if i + 1 < len(cps) else len(gz)
        out_end = cps[i + 1]["out"] if i + 1 < len(cps) else want["uncompressed_archive_size"]
        window = tar[max(0, cp["out"] - 32768):cp["out"]].rjust(32768, b"\0")
        has_window = 1 if cp["out"] > 0 else 0
        seed = struct.pack("<IBB", out_end - cp["out"], cp["bits"], has_window)
        seed += (window if has_window else b"") + gz[start:min(end, start + 200000)]
        put("span_gzip", f"alltypes-span{i}", seed)
    # Checkpoint blobs in both forms, with the sizes a zTOC declares before them.
    n, span_size = len(cps), want["span_size"]
    for version in (1, 2):
        stored = cps if version == 2 else cps[1:]
        blob = struct.pack("<iq", n, span_size)
        for cp in stored:
            blob += struct.pack("<qqB", cp["in"], cp["out"], cp["bits"]) + b"\0" * 32768
        head = struct.pack("<QQI", want["compressed_archive_size"], want["uncompressed_archive_size"], n - 1)
        put("gzip_checkpoints", f"alltypes-v{version}", head + blob)
    put("builder", "tiny-gzip6", b"\x00" + open(os.path.join(vectors, "tiny-gzip6", "layer.tar.gz"), "rb").read())


def layer_seeds():
    for kind in ("pax", "gnu", "ustar"):
        t = small_tar(kind)
        put("tar_reader", kind, b"\x05" + t)
        put("tar_reader", kind + "-whole", b"\xff" + t)
        put("builder", kind + "-gzip", b"\x01" + gzip.compress(t, 6))
        put("builder", kind + "-plain", b"\x02" + t)
    try:
        import subprocess as sp
        for kind in ("pax", "gnu"):
            z = sp.run(["zstd", "-q", "-c", "-3"], input=small_tar(kind), capture_output=True, check=True).stdout
            put("builder", kind + "-zstd", b"\x00" + z)
            put("span_gzip", kind + "-zstd", struct.pack("<IBB", len(small_tar(kind)), 0, 0) + z)
    except FileNotFoundError:
        pass  # no zstd program: those seeds are left out
    members = gzip.compress(small_tar("pax")[:2048]) + gzip.compress(small_tar("pax")[2048:])
    put("builder", "multi-member", b"\x03" + members)
    lower, upper = small_tar("pax"), whiteout_tar()
    blocks = len(lower) // 512
    put("image_fs", "whiteouts", struct.pack(">H", blocks) + lower + upper)
    put("image_fs", "same-twice", struct.pack(">H", blocks) + lower + lower)
    with tempfile.TemporaryDirectory() as work:
        for kind in ("pax", "gnu"):
            path = os.path.join(work, f"{kind}.tar.gz")
            open(path, "wb").write(gzip.compress(small_tar(kind)))
            put("ztoc", f"built-{kind}-gzip", soci.build_ztoc(path, span_size=4096))
            put("erofs", f"built-{kind}-gzip", soci.build_ztoc(path, span_size=4096))
            path = os.path.join(work, f"{kind}.tar")
            open(path, "wb").write(small_tar(kind))
            put("ztoc", f"built-{kind}-tar", soci.build_ztoc(path, span_size=4096))
            put("erofs", f"built-{kind}-tar", soci.build_ztoc(path, span_size=4096))


def chunk_toc_seeds():
    """eStargz and zstd:chunked layers from the test encoders: their TOCs (mode 0, 1) and
    whole blobs (mode 2, 3)."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "mount"))
    import chunked_formats
    tar = small_tar("pax")
    blob, _, _ = chunked_formats.estargz(tar, chunk_size=512, min_chunk_size=256)
    toc_offset = int(blob[-51 + 16:-51 + 32], 16)
    toc_tar = gzip.decompress(blob[toc_offset:-51])
    size = int(toc_tar[124:136].rstrip(b"\0 ") or b"0", 8)
    toc = toc_tar[512:512 + size]
    put("chunk_toc", "estargz-toc", b"\x00" + struct.pack("<I", len(toc)) + toc + blob)
    put("chunk_toc", "estargz-blob", b"\x02" + blob)
    zblob, ann = chunked_formats.zstd_chunked(tar, chunk_size=512)
    off, length, usize, _ = map(int, ann[chunked_formats.POSITION].split(":"))
    manifest = subprocess.run(["zstd", "-d", "-c"], input=zblob[off:off + length], capture_output=True,
                              check=True).stdout
    put("chunk_toc", "zstd-chunked-toc", b"\x01" + struct.pack("<I", len(manifest)) + manifest + zblob)
    put("chunk_toc", "zstd-chunked-blob", b"\x03" + zblob)


def image_seeds(tool):
    """Manifests, an image index and SOCI indexes (v1 and v2) as umoci and soci-index write them."""
    with tempfile.TemporaryDirectory() as work:
        layout = os.path.join(work, "layout")
        subprocess.run(["umoci", "init", "--layout", layout], check=True)
        subprocess.run(["umoci", "new", "--image", f"{layout}:img"], check=True)
        path = os.path.join(work, "layer.tar")
        open(path, "wb").write(small_tar("pax"))
        subprocess.run(["umoci", "raw", "add-layer", "--image", f"{layout}:img", path], check=True)
        subprocess.run(["umoci", "tag", "--image", f"{layout}:img", "v1"], check=True)
        subprocess.run([tool, "create", "--min-layer-size", "0", "--format", "v1", f"{layout}:v1"], check=True,
                       capture_output=True)
        subprocess.run([tool, "create", "--min-layer-size", "0", f"{layout}:img"], check=True, capture_output=True)
        blobs = os.path.join(layout, "blobs", "sha256")
        for name in sorted(os.listdir(blobs)):
            data = open(os.path.join(blobs, name), "rb").read()
            if not data.startswith(b"{"):
                continue
            doc = json.loads(data)
            if doc.get("artifactType", "").startswith("application/vnd.amazon.soci.index") or \
                    doc.get("config", {}).get("mediaType", "").startswith("application/vnd.amazon.soci.index"):
                put("soci_index", f"index-{name[:12]}", data)
            elif "manifests" in doc or "layers" in doc:
                put("oci_json", f"{name[:12]}", data)
        put("oci_json", "index.json", open(os.path.join(layout, "index.json"), "rb").read())


def text_seeds():
    for i, ref in enumerate(["alpine", "docker.io/library/alpine:3.19", "localhost:5000/a/b:c",
                             "127.0.0.1:5000/app@sha256:" + "a" * 64, "ghcr.io/org/app:1.2@sha256:" + "b" * 64,
                             "[::1]:5000/x/y", "registry.example/a/b/c/d:tag-1.0_rc"]):
        put("reference", f"ref{i}", ref)
    for i, c in enumerate(['Bearer realm="https://auth.example/token",service="registry.example",'
                           'scope="repository:app:pull"', 'Basic realm="Registry Realm"',
                           'Bearer realm="http://127.0.0.1:1/t",scope="repository:a/b:pull,push",error="x"',
                           'bearer realm=unquoted,service=s']):
        put("www_authenticate", f"challenge{i}", c)
    put("http_headers", "range", "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/1000\r\n"
                                 "Content-Type: application/octet-stream\r\nDocker-Content-Digest: sha256:" + "c" * 64 +
                                 "\r\nRetry-After: 3\r\n\r\n")
    put("http_headers", "redirect", "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://storage.example/b?sig=x\r\n"
                                    "\r\nHTTP/1.1 200 OK\r\nwww-authenticate: Bearer realm=\"r\"\r\n\r\n")
    put("hosts_toml", "mirrors", 'server = "https://registry.example:5000"\n\n[host."http://mirror:5000"]\n'
                                 '  capabilities = ["pull", "resolve"]\n  skip_verify = true\n'
                                 '[host."https://m2/v2/x"]\n  override_path = true\n  ca = "/etc/ca.pem"\n')
    put("soci_index", "prefetch-artifact", '{"version":"1.0","prefetch_spans":[{"start_span":10,"end_span":15},'
        '{"start_span":50,"end_span":55,"priority":1}]}')
    put("hosts_toml", "plain", '# comment\n[host."https://only"]\ncapabilities = ["pull"]\n')
    put("docker_config", "auth", json.dumps({"auths": {"registry.example": {"auth": "dXNlcjpwYXNz"},
                                                       "https://index.docker.io/v1/": {"auth": "YTpi"}}}))
    put("docker_config", "userpass", json.dumps({"auths": {"http://localhost:5000/v2": {"username": "u",
                                                                                          "password": "p"}}}))


def byteranges_seeds():
    """Answers to a request for several ranges of a 2000-byte blob, the harness's pieces
    among them. The first is laid out as Go's net/http writes it (docker-registry 2.8's
    answer to "bytes=0-9,100-163,1000-1000,1100-1149", boundary and all); the others as
    other servers may answer: one part merging ranges, and a single-part 206."""
    blob = bytes((i * 7 + 3) & 0xFF for i in range(2000))
    boundary = "c3c64b0fc65f41faf14ccb001564b102ea39db7329dc49ceb414271518c7"

    def multipart(ranges):
        out = b""
        for i, (a, b) in enumerate(ranges):
            out += (b"\r\n" if i else b"") + (f"--{boundary}\r\nContent-Range: bytes {a}-{b}/2000\r\n"
                                              "Content-Type: application/octet-stream\r\n\r\n").encode()
            out += blob[a:b + 1]
        return out + f"\r\n--{boundary}--\r\n".encode()

    head = f"multipart/byteranges; boundary={boundary}\n".encode()
    put("byteranges", "go", b"\x05" + head + multipart([(0, 9), (100, 163), (1000, 1000), (1100, 1149)]))
    put("byteranges", "merged", b"\x00" + head + multipart([(0, 163), (1000, 1149)]))
    put("byteranges", "single", b"\x10bytes 0-1149/2000\n" + blob[:1150])


def main():
    tool = os.path.abspath(sys.argv[1])
    vectors = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "tests", "data", "vectors")
    shutil.rmtree(OUT, ignore_errors=True)
    vectors_seeds(vectors)
    layer_seeds()
    image_seeds(tool)
    text_seeds()
    chunk_toc_seeds()
    byteranges_seeds()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"{sum(len(fs) for _, _, fs in os.walk(OUT))} seeds, {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
