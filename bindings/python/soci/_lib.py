"""Loading libsoci.so.1 and declaring the C API to ctypes: every exported function with
its argument and result types, the public structs and the callback types. Nothing here
is meant for users; the classes in the package wrap it."""
import ctypes
import ctypes.util
import glob
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_int, c_int64, c_size_t, c_uint, c_uint32,
                    c_uint64, c_void_p)

SONAME = "libsoci.so.1"


def _candidates():
    """Where to look, in order: $SOCI_LIBRARY; a build folder of the checkout this package
    sits in (the newest); the system's library path."""
    env = os.environ.get("SOCI_LIBRARY")
    if env:
        yield env
        return
    checkout = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
    if os.path.exists(os.path.join(checkout, "include", "soci", "soci.h")):
        built = glob.glob(os.path.join(checkout, "build*", "lib", SONAME))
        yield from sorted(built, key=os.path.getmtime, reverse=True)
    yield ctypes.util.find_library("soci") or SONAME


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("cannot load libsoci: " + "; ".join(errors))


lib, path = _load()

# Opaque handles are plain pointers on this side.
handle = c_void_p
u64p, u32p, sizep = POINTER(c_uint64), POINTER(c_uint32), POINTER(c_size_t)


class SpanInfo(Structure):
    _fields_ = [("compressed_offset", c_uint64), ("compressed_size", c_uint64), ("uncompressed_offset", c_uint64),
                ("uncompressed_size", c_uint64), ("checkpoint_in", c_uint64), ("checkpoint_bits", c_uint32),
                ("reserved", c_uint32), ("digest", c_char_p)]


class Entry(Structure):
    _fields_ = [("name", c_char_p), ("path", c_char_p), ("linkname", c_char_p), ("uname", c_char_p),
                ("gname", c_char_p), ("mod_time", c_char_p), ("offset", c_uint64), ("size", c_uint64),
                ("mode", c_int64), ("devmajor", c_int64), ("devminor", c_int64), ("mtime_sec", c_int64),
                ("mtime_nsec", c_uint32), ("uid", c_uint32), ("gid", c_uint32), ("type", c_uint32),
                ("xattr_count", c_uint32), ("reserved", c_uint32)]


class Stat(Structure):
    _fields_ = [("ino", c_uint64), ("mode", c_uint32), ("nlink", c_uint32), ("uid", c_uint32), ("gid", c_uint32),
                ("size", c_uint64), ("blocks", c_uint64), ("mtime_sec", c_int64), ("mtime_nsec", c_uint32),
                ("rdev_major", c_uint32), ("rdev_minor", c_uint32), ("layer", c_uint32)]


class Dirent(Structure):
    _fields_ = [("name", c_char_p), ("ino", c_uint64), ("mode", c_uint32), ("reserved", c_uint32),
                ("next", c_uint64)]


class StatFs(Structure):
    _fields_ = [("block_size", c_uint64), ("blocks", c_uint64), ("files", c_uint64), ("name_max", c_uint32),
                ("reserved", c_uint32)]


class ErofsRange(Structure):
    _fields_ = [("off", c_uint64), ("len", c_uint64), ("rank", c_uint32), ("reserved", c_uint32)]


class ImageLayer(Structure):
    _fields_ = [("digest", c_char_p), ("media_type", c_char_p), ("size", c_uint64), ("ztoc_digest", c_char_p),
                ("lazy_path", c_int), ("diff_id", c_char_p), ("toc_digest", c_char_p), ("compression", c_int)]


LAZY_PATHS = {0: "unknown", 1: "whole", 2: "soci", 3: "estargz", 4: "zstd:chunked"}
COMPRESSIONS = {0: "unknown", 1: "gzip", 2: "uncompressed", 3: "zstd"}


class Descriptor(Structure):
    _fields_ = [("media_type", c_char_p), ("digest", c_char_p), ("size", c_uint64), ("artifact_type", c_char_p)]


class IndexEntry(Structure):
    _fields_ = [("media_type", c_char_p), ("digest", c_char_p), ("size", c_uint64), ("layer_digest", c_char_p),
                ("layer_media_type", c_char_p), ("span_size", c_uint64), ("kind", c_uint32),
                ("disable_xattrs", c_uint32)]


class IovAt(Structure):
    _fields_ = [("buf", c_void_p), ("len", c_size_t), ("off", c_uint64)]


size_fn = CFUNCTYPE(c_int, c_void_p, u64p)
read_at_fn = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_uint64)
read_vec_fn = CFUNCTYPE(c_int, c_void_p, POINTER(IovAt), c_size_t)
control_fn = CFUNCTYPE(c_int, c_void_p, c_int, c_void_p)
close_fn = CFUNCTYPE(None, c_void_p)


class BlobMethods(Structure):
    _fields_ = [("version", c_int), ("caps", c_uint32), ("size", size_fn), ("read_at", read_at_fn),
                ("read_vec", read_vec_fn), ("control", control_fn), ("close", close_fn)]


read_fn = CFUNCTYPE(c_int64, c_void_p, c_void_p, c_size_t)
progress_fn = CFUNCTYPE(None, c_void_p, c_uint64)
event_fn = CFUNCTYPE(None, c_void_p, c_int, c_char_p, c_char_p)
index_found_fn = CFUNCTYPE(None, c_void_p, c_char_p, c_int, c_char_p, c_char_p)
log_fn = CFUNCTYPE(None, c_int, c_char_p, c_void_p)
credential_fn = CFUNCTYPE(c_int, c_void_p, c_char_p, POINTER(c_char), c_size_t, POINTER(c_char), c_size_t)

vpp = POINTER(c_void_p)
digest_buf = c_char * 72

# name: (result type, argument types). Every function libsoci exports.
PROTOTYPES = {
    # error.h
    "soci_errname": (c_char_p, [c_int]),
    "soci_strerror": (c_char_p, [c_int]),
    "soci_errno": (c_int, [c_int]),
    "soci_last_error": (c_char_p, []),
    "soci_clear_error": (None, []),
    "soci_version": (c_uint, []),
    "soci_version_string": (c_char_p, []),
    # log.h
    "soci_set_log_func": (None, [log_fn, c_int, c_void_p]),
    # blob.h
    "soci_blob_new": (c_int, [POINTER(BlobMethods), c_void_p, vpp]),
    "soci_blob_open_file": (c_int, [c_char_p, vpp]),
    "soci_blob_open_mem": (c_int, [c_void_p, c_size_t, c_uint, vpp]),
    "soci_blob_ref": (handle, [handle]),
    "soci_blob_unref": (handle, [handle]),
    "soci_blob_size": (c_uint64, [handle]),
    "soci_blob_read_at": (c_int, [handle, c_void_p, c_size_t, c_uint64]),
    "soci_blob_set_error": (c_int, [c_int, c_char_p]),
    # ztoc.h
    "soci_ztoc_open_mem": (c_int, [c_void_p, c_size_t, c_uint, vpp]),
    "soci_ztoc_open_file": (c_int, [c_char_p, vpp]),
    "soci_ztoc_free": (None, [handle]),
    "soci_ztoc_version": (c_char_p, [handle]),
    "soci_ztoc_build_tool": (c_char_p, [handle]),
    "soci_ztoc_compressed_size": (c_uint64, [handle]),
    "soci_ztoc_uncompressed_size": (c_uint64, [handle]),
    "soci_ztoc_compression": (c_int, [handle]),
    "soci_ztoc_span_count": (c_uint32, [handle]),
    "soci_ztoc_span_size": (c_uint64, [handle]),
    "soci_ztoc_checkpoint_version": (c_int, [handle]),
    "soci_ztoc_span_info": (c_int, [handle, c_uint32, POINTER(SpanInfo), c_size_t]),
    "soci_ztoc_span_at": (c_int, [handle, c_uint64, u32p]),
    "soci_ztoc_decode_span": (c_int64, [handle, c_uint32, c_void_p, c_size_t, c_void_p, c_size_t]),
    "soci_ztoc_entry_count": (c_uint32, [handle]),
    "soci_ztoc_entry": (c_int, [handle, c_uint32, POINTER(Entry), c_size_t]),
    "soci_ztoc_entry_xattr": (c_int, [handle, c_uint32, c_uint32, POINTER(c_char_p), vpp, sizep]),
    "soci_ztoc_lookup": (c_int, [handle, c_char_p, u32p]),
    "soci_ztoc_resolve": (c_int, [handle, c_uint32, u32p]),
    "soci_ztoc_readlink": (c_int, [handle, c_uint32, POINTER(c_char_p)]),
    # cache.h
    "soci_cache_new": (c_int, [handle, vpp]),
    "soci_cache_ref": (handle, [handle]),
    "soci_cache_unref": (None, [handle]),
    "soci_cache_counter": (c_int, [handle, c_int, u64p]),
    # layer.h
    "soci_layer_open": (c_int, [handle, handle, vpp]),
    "soci_layer_open_cached": (c_int, [handle, handle, handle, c_char_p, vpp]),
    "soci_layer_free": (None, [handle]),
    "soci_layer_pread": (c_int64, [handle, c_uint32, c_void_p, c_size_t, c_uint64]),
    "soci_layer_prefetch": (c_int, [handle, c_uint32, c_uint32]),
    "soci_layer_counter": (c_int, [handle, c_int, u64p]),
    # build.h
    "soci_builder_new": (c_int, [vpp]),
    "soci_builder_free": (None, [handle]),
    "soci_builder_set_u64": (c_int, [handle, c_int, c_uint64]),
    "soci_builder_set_str": (c_int, [handle, c_int, c_char_p]),
    "soci_builder_set_progress": (c_int, [handle, progress_fn, c_void_p]),
    "soci_builder_build_stream": (c_int, [handle, read_fn, c_void_p, vpp, sizep]),
    "soci_builder_build_blob": (c_int, [handle, handle, vpp, sizep]),
    "soci_free": (None, [c_void_p]),
    # config.h
    "soci_config_new": (c_int, [vpp]),
    "soci_config_free": (None, [handle]),
    "soci_config_set_u64": (c_int, [handle, c_int, c_uint64]),
    "soci_config_set_str": (c_int, [handle, c_int, c_char_p]),
    # index.h
    "soci_index_parse": (c_int, [c_void_p, c_size_t, vpp]),
    "soci_index_new": (c_int, [c_int, vpp]),
    "soci_index_free": (None, [handle]),
    "soci_index_version": (c_int, [handle]),
    "soci_index_build_tool": (c_char_p, [handle]),
    "soci_index_subject": (c_int, [handle, POINTER(Descriptor), c_size_t]),
    "soci_index_entry_count": (c_uint32, [handle]),
    "soci_index_entry": (c_int, [handle, c_uint32, POINTER(IndexEntry), c_size_t]),
    "soci_index_find_layer": (c_int, [handle, c_char_p, u32p]),
    "soci_index_set_subject": (c_int, [handle, c_char_p, c_char_p, c_uint64]),
    "soci_index_set_build_tool": (c_int, [handle, c_char_p]),
    "soci_index_add_ztoc": (c_int, [handle, c_char_p, c_uint64, c_char_p, c_char_p, c_uint64, c_int]),
    "soci_index_serialize": (c_int, [handle, vpp, sizep]),
    "soci_index_add_prefetch": (c_int, [handle, c_char_p, c_uint64, c_char_p]),
    "soci_index_find_prefetch": (c_int, [handle, c_char_p, u32p]),
    # layout.h
    "soci_layout_open": (c_int, [c_char_p, vpp]),
    "soci_layout_free": (None, [handle]),
    "soci_layout_read_blob": (c_int, [handle, c_char_p, c_uint64, vpp, sizep]),
    "soci_layout_open_blob": (c_int, [handle, c_char_p, vpp]),
    "soci_layout_write_blob": (c_int, [handle, c_void_p, c_size_t, digest_buf]),
    "soci_layout_resolve": (c_int, [handle, c_char_p, POINTER(Descriptor), c_size_t]),
    "soci_layout_build_index": (c_int, [handle, c_char_p, handle, handle, event_fn, c_void_p, digest_buf]),
    "soci_layout_list_indexes": (c_int, [handle, index_found_fn, c_void_p]),
    "soci_layout_push": (c_int, [handle, c_char_p, handle, c_char_p, event_fn, c_void_p]),
    "soci_registry_build_index": (c_int, [handle, c_char_p, c_char_p, handle, handle, event_fn, c_void_p, digest_buf]),
    # registry.h
    "soci_registry_new": (c_int, [handle, vpp]),
    "soci_registry_ref": (handle, [handle]),
    "soci_registry_unref": (handle, [handle]),
    "soci_registry_set_credential_fn": (c_int, [handle, credential_fn, c_void_p]),
    "soci_registry_get_manifest": (c_int, [handle, c_char_p, vpp, sizep, digest_buf]),
    "soci_registry_get_blob": (c_int, [handle, c_char_p, c_char_p, c_uint64, vpp, sizep]),
    "soci_registry_open_blob": (c_int, [handle, c_char_p, c_char_p, c_uint64, vpp]),
    "soci_registry_get_referrers": (c_int, [handle, c_char_p, c_char_p, vpp, sizep]),
    "soci_registry_put_blob": (c_int, [handle, c_char_p, c_void_p, c_size_t]),
    "soci_registry_put_manifest": (c_int, [handle, c_char_p, c_char_p, c_void_p, c_size_t]),
    "soci_registry_counter": (c_int, [handle, c_int, u64p]),
    # image.h
    "soci_image_open": (c_int, [c_char_p, handle, handle, vpp]),
    "soci_image_free": (None, [handle]),
    "soci_image_set_cache": (c_int, [handle, handle]),
    "soci_image_manifest_digest": (c_char_p, [handle]),
    "soci_image_index_digest": (c_char_p, [handle]),
    "soci_image_index_version": (c_int, [handle]),
    "soci_image_layer_count": (c_uint32, [handle]),
    "soci_image_layer": (c_int, [handle, c_uint32, POINTER(ImageLayer), c_size_t]),
    "soci_image_open_layer": (c_int, [handle, c_uint32, vpp, vpp]),
    "soci_image_counter": (c_int, [handle, c_int, u64p]),
    # fs.h
    "soci_fs_open": (c_int, [handle, vpp]),
    "soci_fs_open_layers": (c_int, [vpp, c_uint32, c_uint, vpp]),
    "soci_fs_open_image_layer": (c_int, [handle, c_uint32, c_uint, vpp]),
    "soci_fs_free": (None, [handle]),
    "soci_fs_getattr": (c_int, [handle, c_uint64, POINTER(Stat), c_size_t]),
    "soci_fs_lookup": (c_int, [handle, c_uint64, c_char_p, u64p]),
    "soci_fs_resolve": (c_int, [handle, c_char_p, c_uint, u64p]),
    "soci_fs_readdir": (c_int, [handle, c_uint64, c_uint64, POINTER(Dirent), c_size_t]),
    "soci_fs_pread": (c_int64, [handle, c_uint64, c_void_p, c_size_t, c_uint64]),
    "soci_fs_readlink": (c_int, [handle, c_uint64, POINTER(c_char_p)]),
    "soci_fs_listxattr": (c_int, [handle, c_uint64, c_uint32, POINTER(c_char_p), vpp, sizep]),
    "soci_fs_getxattr": (c_int, [handle, c_uint64, c_char_p, vpp, sizep]),
    "soci_fs_statfs": (c_int, [handle, POINTER(StatFs), c_size_t]),
    "soci_fs_prefetch": (c_int, [handle, c_char_p]),
    "soci_fs_prefetch_artifacts": (c_int, [handle, u64p]),
    "soci_fs_prefetch_record": (c_int, [handle, vpp, sizep]),
    "soci_fs_background_fetch": (c_int, [handle, c_int]),
    "soci_fs_counter": (c_int, [handle, c_int, u64p]),
    # erofs.h (1.2)
    "soci_erofs_write": (c_int, [handle, handle, c_char_p, c_uint, vpp, sizep]),
    "soci_erofs_check": (c_int, [c_void_p, c_size_t, c_uint64]),
    "soci_erofs_device_open": (c_int, [handle, c_uint32, vpp]),
    "soci_erofs_device_size": (c_uint64, [handle]),
    "soci_erofs_device_pread": (c_int64, [handle, c_void_p, c_size_t, c_uint64]),
    "soci_erofs_device_missing": (c_int, [handle, POINTER(c_uint64)]),
    "soci_erofs_device_planned": (c_int, [handle, POINTER(POINTER(ErofsRange)), sizep]),
    "soci_erofs_device_pread_planned": (c_int64, [handle, c_void_p, c_size_t, c_uint64]),
    "soci_erofs_device_free": (None, [handle]),
}


def _declare():
    for name, (restype, argtypes) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


_declare()

# Constants from the headers.
COMPRESSION = {1: "gzip", 2: "uncompressed", 3: "zstd"}
TYPES = {1: "reg", 2: "dir", 3: "symlink", 4: "hardlink", 5: "char", 6: "block", 7: "fifo"}
ZTOC_COPY = 0x1
BLOB_COPY = 0x1
FS_ROOT = 1
FS_FOLLOW = 0x1
FS_KEEP_WHITEOUTS = 0x1
FS_OVERLAY_WHITEOUTS = 0x2
BUILD_SPAN_SIZE, BUILD_TOOL_IDENTIFIER, BUILD_CHECKPOINT_VERSION, BUILD_THREADS = 1, 2, 3, 4
OPTIONS = {  # keyword: (SOCI_OPT_* value, type)
    "min_layer_size": (1, int), "index_version": (2, int), "platform": (3, str), "xattr_optimization": (4, bool),
    "plain_http": (5, bool), "insecure": (6, bool), "ca_file": (7, str), "index_digest": (8, str),
    "retries": (9, int), "hosts_dir": (10, str), "cache_dir": (11, str), "cache_memory": (12, int),
    "cache_disk": (13, int), "prefetch_files": (14, str), "max_connections": (15, int),
    "registries_conf": (16, str), "prefetch_record": (17, str),
}
COUNTERS = {
    "bytes_fetched": 1, "reads": 2, "spans_decoded": 3, "requests": 4, "cache_hits": 5, "cache_disk_hits": 6,
    "cache_misses": 7, "bytes_served": 8, "evictions": 9, "disk_evictions": 10, "disk_corrupt": 11,
    "background_spans": 12, "fetch_ns": 13, "decode_ns": 14, "read_wait_ns": 15, "spans_redecoded": 16,
    "spans_demanded": 17, "xattrs": 18,
}
