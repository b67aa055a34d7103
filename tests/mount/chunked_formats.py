"""Encoders for the two self-indexing layer formats libsoci reads, written for the tests
from the formats' descriptions (not from libsoci's reader): eStargz
(containerd/stargz-snapshotter's docs/estargz.md) and zstd:chunked (containers/storage's
pkg/chunked). Debian's tools cannot make either offline: ctr-remote converts only through
a running containerd, and skopeo 1.9's zstd:chunked writer hangs.

Both keep every tar header and data byte of the input (headers copied raw, PAX and GNU
long-name records included), so extracting the result gives the input's tree; eStargz
adds its TOC entry "stargz.index.json" before the end-of-archive blocks.
"""
import ctypes
import gzip
import hashlib
import io
import json
import struct
import tarfile
from datetime import datetime, timezone

TYPES = {tarfile.REGTYPE: "reg", tarfile.AREGTYPE: "reg", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
         tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _members(tar_bytes):
    """(TarInfo, raw header bytes, data) for each entry, and the bytes after the last."""
    src = tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:")
    out, end = [], 0
    for ti in src:
        size = ti.size if ti.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
        out.append((ti, tar_bytes[ti.offset:ti.offset_data], tar_bytes[ti.offset_data:ti.offset_data + size]))
        end = ti.offset_data + ((size + 511) // 512) * 512
    return out, tar_bytes[end:]


def _toc_entry(ti, data):
    """The TOC fields both formats share (CRFS's schema)."""
    e = {"name": ti.name, "type": TYPES[ti.type], "mode": ti.mode, "uid": ti.uid, "gid": ti.gid,
         "modtime": datetime.fromtimestamp(int(ti.mtime), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if ti.uname:
        e["userName"] = ti.uname
    if ti.gname:
        e["groupName"] = ti.gname
    if ti.linkname:
        e["linkName"] = ti.linkname
    if ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        e["devMajor"], e["devMinor"] = ti.devmajor, ti.devminor
    if data:
        e["size"], e["digest"] = len(data), sha256(data)
    xattrs = {k[len("SCHILY.xattr."):]: v for k, v in ti.pax_headers.items() if k.startswith("SCHILY.xattr.")}
    if xattrs:
        import base64
        # tarfile decodes PAX values as UTF-8 (surrogateescape for other bytes)
        e["xattrs"] = {k: base64.b64encode(v.encode("utf-8", "surrogateescape")).decode() for k, v in xattrs.items()}
    return e


# ---- eStargz ----

def _gzip_member(data):
    return gzip.compress(bytes(data), compresslevel=6, mtime=0)


def _estargz_footer(toc_offset):
    """An empty gzip member whose extra field (subfield 'S','G') says where the TOC is."""
    extra = b"SG" + struct.pack("<H", 22) + b"%016xSTARGZ" % toc_offset
    return (b"\x1f\x8b\x08\x04" + b"\0\0\0\0" + b"\0\xff" + struct.pack("<H", len(extra)) + extra +
            b"\x01\x00\x00\xff\xff" + b"\0" * 8)


def estargz(tar_bytes, chunk_size=64 << 10, min_chunk_size=16 << 10):
    """An eStargz blob of the tar: returns (blob, toc_digest, diff_id). Files are cut into
    chunks of chunk_size, each starting a gzip member; a small file whose data fits in
    the current member under min_chunk_size stays in it (innerOffset)."""
    out, member, member_start = bytearray(), bytearray(), 0
    entries = []
    diff = hashlib.sha256()  # of the tar the members decompress to

    def close_member():
        nonlocal member, member_start
        if member:
            out.extend(_gzip_member(member))
            diff.update(member)
        member, member_start = bytearray(), len(out)

    members, trailer = _members(tar_bytes)
    for ti, header, data in members:
        member += header
        entry = _toc_entry(ti, data)
        entries.append(entry)
        pos = 0
        while pos < len(data):
            piece = data[pos:pos + chunk_size]
            shared = pos == 0 and member_start > 0 and len(member) + len(piece) < min_chunk_size
            if not shared:
                close_member()
            e = entry if pos == 0 else {"name": ti.name, "type": "chunk"}
            e.update({"offset": member_start, "chunkOffset": pos, "chunkSize": len(piece),
                      "chunkDigest": sha256(piece)})
            if e["chunkOffset"] == 0:
                del e["chunkOffset"]
            if shared:
                e["innerOffset"] = len(member)
            if e is not entry:
                entries.append(e)
            member += piece
            pos += len(piece)
        member += b"\0" * ((-len(data)) % 512)
    close_member()
    toc_offset = len(out)
    toc_json = json.dumps({"version": 1, "entries": entries}).encode()
    info = tarfile.TarInfo("stargz.index.json")
    info.size, info.mode = len(toc_json), 0o644
    toc_tar = info.tobuf(format=tarfile.USTAR_FORMAT) + toc_json + b"\0" * ((-len(toc_json)) % 512) + b"\0" * 1024
    out += _gzip_member(toc_tar) + _estargz_footer(toc_offset)
    diff.update(toc_tar)
    del trailer  # the TOC entry's own end-of-archive blocks end the tar
    return bytes(out), sha256(toc_json), "sha256:" + diff.hexdigest()


# ---- zstd:chunked ----

_zstd = ctypes.CDLL("libzstd.so.1")
_zstd.ZSTD_compressBound.restype = ctypes.c_size_t
_zstd.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
_zstd.ZSTD_compress.restype = ctypes.c_size_t
_zstd.ZSTD_compress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
_zstd.ZSTD_isError.argtypes = [ctypes.c_size_t]


def zstd_frame(data, level=3):
    data = bytes(data)
    buf = ctypes.create_string_buffer(_zstd.ZSTD_compressBound(len(data)))
    n = _zstd.ZSTD_compress(buf, len(buf), data, len(data), level)
    assert not _zstd.ZSTD_isError(n)
    return buf.raw[:n]


def _skippable(data):
    return struct.pack("<II", 0x184D2A50, len(data)) + data


CHECKSUM = "io.github.containers.zstd-chunked.manifest-checksum"
POSITION = "io.github.containers.zstd-chunked.manifest-position"
TARSPLIT = "io.github.containers.zstd-chunked.tarsplit-position"


def zstd_chunked(tar_bytes, chunk_size=64 << 10):
    """A zstd:chunked blob of the tar: returns (blob, annotations). Each file's data starts
    new frames, one per chunk of chunk_size; headers and padding go in the frames
    between; the manifest, a tar-split stand-in and the footer follow as skippable
    frames."""
    out, frame = bytearray(), bytearray()

    def flush():
        if frame:
            out.extend(zstd_frame(frame))
            frame.clear()

    entries = []
    members, trailer = _members(tar_bytes)
    for ti, header, data in members:
        frame += header
        entry = _toc_entry(ti, data)
        entries.append(entry)
        if not data:
            continue
        flush()
        entry["offset"] = len(out)
        chunks = []
        for pos in range(0, len(data), chunk_size):
            piece = data[pos:pos + chunk_size]
            chunk = {"offset": len(out), "chunkOffset": pos, "chunkSize": len(piece), "chunkDigest": sha256(piece)}
            if not any(piece):
                chunk["chunkType"] = "zeros"
            frame += piece
            flush()
            chunks.append(chunk)
        entry["endOffset"] = len(out)
        if len(chunks) > 1:
            entry.update({k: v for k, v in chunks[0].items() if k != "chunkOffset"})
            for c in chunks[1:]:
                entries.append(dict(c, type="chunk", name=ti.name))
        frame += b"\0" * ((-len(data)) % 512)
    frame += trailer
    flush()
    tar_split = zstd_frame(b'{"type":1,"payload":null}\n')
    manifest = json.dumps({"version": 1, "entries": entries, "tarSplitDigest": sha256(tar_split)}).encode()
    compressed = zstd_frame(manifest)
    manifest_offset = len(out) + 8
    out += _skippable(compressed)
    split_offset = len(out) + 8
    out += _skippable(tar_split)
    out += _skippable(struct.pack("<7Q", manifest_offset, len(compressed), len(manifest), 1, split_offset,
                                  len(tar_split), 26) + b"GNUlInUx")
    annotations = {CHECKSUM: sha256(compressed),
                   POSITION: f"{manifest_offset}:{len(compressed)}:{len(manifest)}:1",
                   TARSPLIT: f"{split_offset}:{len(tar_split)}:26"}
    return bytes(out), annotations
