"""zTOCs: opening, their header and entries, and building one from a layer."""
import ctypes
import os

from ._handle import Handle, check, open_source
from ._lib import (BUILD_CHECKPOINT_VERSION, BUILD_SPAN_SIZE, BUILD_THREADS, BUILD_TOOL_IDENTIFIER, COMPRESSION, TYPES,
                   ZTOC_COPY, Entry, SpanInfo, lib)


def _str(b):
    return b.decode("utf-8", "surrogateescape") if b is not None else ""


class Ztoc(Handle):
    """An opened zTOC, verified completely at open; immutable, usable from many threads."""

    _free = lib.soci_ztoc_free
    _what = "zTOC"

    @classmethod
    def open(cls, source):
        """Open a zTOC from a path, or from bytes (copied)."""
        return cls(open_source(source, lib.soci_ztoc_open_mem, lib.soci_ztoc_open_file, ZTOC_COPY))

    def __len__(self):
        return lib.soci_ztoc_entry_count(self.ptr)

    def info(self):
        """The header, in the key names `soci-index ztoc info --json` prints."""
        z = self.ptr
        spans = lib.soci_ztoc_span_count(z)
        digests = []
        for i in range(spans):
            si = SpanInfo()
            check(lib.soci_ztoc_span_info(z, i, ctypes.byref(si), ctypes.sizeof(si)))
            digests.append(_str(si.digest))
        return {
            "version": _str(lib.soci_ztoc_version(z)),
            "build_tool_identifier": _str(lib.soci_ztoc_build_tool(z)),
            "compression_algorithm": COMPRESSION.get(lib.soci_ztoc_compression(z), "?"),
            "compressed_archive_size": lib.soci_ztoc_compressed_size(z),
            "uncompressed_archive_size": lib.soci_ztoc_uncompressed_size(z),
            "max_span_id": spans - 1,
            "span_size": lib.soci_ztoc_span_size(z),
            "checkpoint_version": lib.soci_ztoc_checkpoint_version(z),
            "span_digests": digests,
        }

    def spans(self):
        """Every span: offsets and sizes, compressed and not, and its digest."""
        out = []
        for i in range(lib.soci_ztoc_span_count(self.ptr)):
            si = SpanInfo()
            check(lib.soci_ztoc_span_info(self.ptr, i, ctypes.byref(si), ctypes.sizeof(si)))
            out.append({f: getattr(si, f) for f, _ in SpanInfo._fields_ if f != "reserved"} | {"digest": _str(si.digest)})
        return out

    def entry(self, i):
        """Entry i (TOC order) as a dict with the reference's JSON key names; xattrs holds
        every raw PAX record (bytes values), as the zTOC does."""
        e = Entry()
        check(lib.soci_ztoc_entry(self.ptr, i, ctypes.byref(e), ctypes.sizeof(e)))
        xattrs = {}
        key, value, length = ctypes.c_char_p(), ctypes.c_void_p(), ctypes.c_size_t()
        for j in range(e.xattr_count):
            check(lib.soci_ztoc_entry_xattr(self.ptr, i, j, ctypes.byref(key), ctypes.byref(value),
                                            ctypes.byref(length)))
            xattrs[_str(key.value)] = ctypes.string_at(value.value, length.value) if length.value else b""
        return {
            "name": _str(e.name), "path": _str(e.path), "type": TYPES.get(e.type, "?"),
            "uncompressed_offset": e.offset, "uncompressed_size": e.size, "linkname": _str(e.linkname),
            "mode": e.mode, "uid": e.uid, "gid": e.gid, "uname": _str(e.uname), "gname": _str(e.gname),
            "mod_time": _str(e.mod_time), "devmajor": e.devmajor, "devminor": e.devminor, "xattrs": xattrs,
        }

    def entries(self):
        """Every entry, in TOC (tar) order."""
        return [self.entry(i) for i in range(len(self))]

    def lookup(self, path):
        """The index of the entry at path (cleaned: "/etc/x", "./etc/x" and "etc/x" alike)."""
        i = ctypes.c_uint32()
        check(lib.soci_ztoc_lookup(self.ptr, os.fsencode(path), ctypes.byref(i)))
        return i.value


def build_ztoc(layer_path, span_size=None, build_tool=None, checkpoint_version=None, threads=None):
    """The zTOC of a gzip, zstd or uncompressed tar layer file, as bytes (the reference's format).

    threads: 1 builds on the calling thread only, 2 hashes and parses on a second one;
    None lets the library choose (two when the process may run on two CPUs)."""
    builder, blob = ctypes.c_void_p(), ctypes.c_void_p()
    check(lib.soci_builder_new(ctypes.byref(builder)))
    try:
        if span_size is not None:
            check(lib.soci_builder_set_u64(builder, BUILD_SPAN_SIZE, span_size))
        if build_tool is not None:
            check(lib.soci_builder_set_str(builder, BUILD_TOOL_IDENTIFIER, build_tool.encode()))
        if checkpoint_version is not None:
            check(lib.soci_builder_set_u64(builder, BUILD_CHECKPOINT_VERSION, checkpoint_version))
        if threads is not None:
            check(lib.soci_builder_set_u64(builder, BUILD_THREADS, threads))
        check(lib.soci_blob_open_file(os.fsencode(layer_path), ctypes.byref(blob)))
        data, length = ctypes.c_void_p(), ctypes.c_size_t()
        try:
            check(lib.soci_builder_build_blob(builder, blob, ctypes.byref(data), ctypes.byref(length)))
        finally:
            lib.soci_blob_unref(blob)
        try:
            return ctypes.string_at(data.value, length.value)
        finally:
            lib.soci_free(data)
    finally:
        lib.soci_builder_free(builder)
