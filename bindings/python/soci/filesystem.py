"""Trees of files read lazily: one layer with its zTOC (Layer) or a whole image with its
layers merged (Image), both over libsoci's soci_fs, with an os-like surface and file
objects that tarfile, shutil and hashlib accept."""
import ctypes
import io
import os
import posixpath
import stat as stat_mod

from ._handle import Handle, check, error, open_source
from ._lib import (BLOB_COPY, COMPRESSIONS, COUNTERS, FS_FOLLOW, FS_KEEP_WHITEOUTS, FS_OVERLAY_WHITEOUTS, LAZY_PATHS, OPTIONS,
                   Dirent, ImageLayer, Stat, StatFs, lib)
from .ztoc import Ztoc


class _RawFile(io.RawIOBase):
    """A regular file of a tree, read with soci_fs_pread at the position kept here."""

    def __init__(self, tree, ino, size, name):
        super().__init__()
        tree._pin()
        self._tree, self._ino, self._size, self.name, self._pos = tree, ino, size, name, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, b):
        mv = memoryview(b).cast("B")
        if len(mv) == 0:
            return 0
        buf = (ctypes.c_char * len(mv)).from_buffer(mv)
        if self.closed:
            raise ValueError("I/O operation on closed file")
        # The tree stays allocated while this file pins it, even if closed meanwhile.
        n = lib.soci_fs_pread(self._tree._ptr, self._ino, buf, len(mv), self._pos)
        if n < 0:
            raise error(n)
        self._pos += n
        return n

    def readall(self):
        """The rest of the file in one read: its spans are fetched together."""
        buf = bytearray(max(0, self._size - self._pos))
        n = self.readinto(buf)
        return bytes(buf[:n])

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(22, "negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self):
        return self._pos

    def close(self):
        if not self.closed:
            super().close()
            self._tree._unpin()


class _OpenMethod:
    """`open` on the class opens a tree (Layer.open(layer, ztoc), Image.open(ref)); on
    an instance it opens a file of it (tree.open(path)), as the two read naturally."""

    def __init__(self, open_tree):
        self.open_tree = open_tree

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self.open_tree.__get__(objtype, objtype)
        return obj.open_file


class _Tree(Handle):
    """What Layer and Image share: path operations over a soci_fs."""

    _free = lib.soci_fs_free
    _what = "filesystem"

    def _ino(self, path, follow=True):
        ino = ctypes.c_uint64()
        check(lib.soci_fs_resolve(self.ptr, os.fsencode(path), FS_FOLLOW if follow else 0, ctypes.byref(ino)))
        return ino.value

    def _stat(self, ino):
        st = Stat()
        check(lib.soci_fs_getattr(self.ptr, ino, ctypes.byref(st), ctypes.sizeof(st)))
        return st

    def stat(self, path, follow_symlinks=True):
        """os.stat_result of path (times: the mtime in all three; st_dev: the layer index,
        or -1 for an implied directory)."""
        st = self._stat(self._ino(path, follow_symlinks))
        t = st.mtime_sec + st.mtime_nsec / 1e9
        layer = -1 if st.layer == 0xFFFFFFFF else st.layer
        return os.stat_result((st.mode, st.ino, layer, st.nlink, st.uid, st.gid, st.size, t, t, t))

    def lstat(self, path):
        return self.stat(path, follow_symlinks=False)

    def exists(self, path):
        try:
            self._ino(path)
            return True
        except (FileNotFoundError, NotADirectoryError):
            return False

    def isdir(self, path):
        return self.exists(path) and stat_mod.S_ISDIR(self.stat(path).st_mode)

    def isfile(self, path):
        return self.exists(path) and stat_mod.S_ISREG(self.stat(path).st_mode)

    def listdir(self, path="/"):
        """Names in the directory at path, sorted, without "." and ".."."""
        ino, names, off = self._ino(path), [], 2
        d = Dirent()
        while check(lib.soci_fs_readdir(self.ptr, ino, off, ctypes.byref(d), ctypes.sizeof(d))) == 1:
            names.append(d.name.decode("utf-8", "surrogateescape"))
            off = d.next
        return names

    def walk(self, top="/"):
        """Like os.walk (top down, symlinks to directories not followed)."""
        dirs, files = [], []
        for name in self.listdir(top):
            (dirs if stat_mod.S_ISDIR(self.lstat(posixpath.join(top, name)).st_mode) else files).append(name)
        yield top, dirs, files
        for name in dirs:
            yield from self.walk(posixpath.join(top, name))

    def readlink(self, path):
        target = ctypes.c_char_p()
        check(lib.soci_fs_readlink(self.ptr, self._ino(path, follow=False), ctypes.byref(target)))
        return target.value.decode("utf-8", "surrogateescape")

    def listxattr(self, path, follow_symlinks=True):
        ino, out, i = self._ino(path, follow_symlinks), [], 0
        name, value, length = ctypes.c_char_p(), ctypes.c_void_p(), ctypes.c_size_t()
        while check(lib.soci_fs_listxattr(self.ptr, ino, i, ctypes.byref(name), ctypes.byref(value),
                                          ctypes.byref(length))) == 1:
            out.append(name.value.decode("utf-8", "surrogateescape"))
            i += 1
        return out

    def getxattr(self, path, attribute, follow_symlinks=True):
        value, length = ctypes.c_void_p(), ctypes.c_size_t()
        check(lib.soci_fs_getxattr(self.ptr, self._ino(path, follow_symlinks), attribute.encode(),
                                   ctypes.byref(value), ctypes.byref(length)))
        return ctypes.string_at(value.value, length.value)

    def open_file(self, path, mode="rb", buffering=1 << 20):
        """A read-only binary file object for the regular file at path (also tree.open)."""
        if mode not in ("r", "rb"):
            raise ValueError("the tree is read-only: mode must be 'rb'")
        ino = self._ino(path)
        st = self._stat(ino)
        if stat_mod.S_ISDIR(st.mode):
            raise IsADirectoryError(21, "is a directory", path)
        if not stat_mod.S_ISREG(st.mode):
            raise OSError(22, "not a regular file", path)
        raw = _RawFile(self, ino, st.size, path)
        return raw if buffering == 0 else io.BufferedReader(raw, buffer_size=max(buffering, 4096))

    def read_bytes(self, path):
        with self.open_file(path) as f:
            return f.read()

    def pread(self, path, length, offset):
        """Up to length bytes of the file at path from offset, in one read."""
        with self.open_file(path, buffering=0) as f:
            f.seek(offset)
            return f.read(length)

    def prefetch(self, path):
        """Fetch the spans of the file at path into the cache now."""
        check(lib.soci_fs_prefetch(self.ptr, os.fsencode(path)))

    def prefetch_artifacts(self):
        """Fetch the spans the image's prefetch artifacts name; returns how many were fetched."""
        spans = ctypes.c_uint64()
        check(lib.soci_fs_prefetch_artifacts(self.ptr, ctypes.byref(spans)))
        return spans.value

    def prefetch_record(self):
        """The spans reads have needed so far, as a prefetch record (JSON bytes) for an index
        build's prefetch_record option: learned prefetch."""
        data, length = ctypes.c_void_p(), ctypes.c_size_t()
        check(lib.soci_fs_prefetch_record(self.ptr, ctypes.byref(data), ctypes.byref(length)))
        try:
            return ctypes.string_at(data.value, length.value)
        finally:
            lib.soci_free(data)

    def statfs(self):
        st = StatFs()
        check(lib.soci_fs_statfs(self.ptr, ctypes.byref(st), ctypes.sizeof(st)))
        return {"block_size": st.block_size, "blocks": st.blocks, "files": st.files, "name_max": st.name_max}

    def counters(self):
        """Every counter the tree answers: bytes fetched, cache hits, ..."""
        out, v = {}, ctypes.c_uint64()
        for name, which in COUNTERS.items():
            if lib.soci_fs_counter(self.ptr, which, ctypes.byref(v)) == 0:
                out[name] = v.value
        lib.soci_clear_error()
        return out


class _Blob(Handle):
    _free = lib.soci_blob_unref
    _what = "blob"

    @classmethod
    def open(cls, source):
        return cls(open_source(source, lib.soci_blob_open_mem, lib.soci_blob_open_file, BLOB_COPY))


class _LayerHandle(Handle):
    _free = lib.soci_layer_free
    _what = "layer"


class Layer(_Tree):
    """One layer read through its zTOC: its tar's tree as it is (whiteout files included),
    or with overlay_whiteouts=True as overlayfs reads a lower directory (a deleted NAME a
    character device 0/0, opaque directories marked by trusted.overlay.opaque=y)."""

    @classmethod
    def _open_layer(cls, layer, ztoc, overlay_whiteouts=False):
        """layer: a path or bytes of the layer blob; ztoc: a Ztoc, a path or bytes."""
        z = ztoc if isinstance(ztoc, Ztoc) else Ztoc.open(ztoc)
        blob = _Blob.open(layer)
        try:
            ptr = ctypes.c_void_p()
            check(lib.soci_layer_open(blob.ptr, z.ptr, ctypes.byref(ptr)))
            handle = _LayerHandle(ptr.value, deps=(blob, z))
        finally:
            blob.close()  # the layer holds its own reference
        try:
            layers = (ctypes.c_void_p * 1)(handle.ptr)
            fs = ctypes.c_void_p()
            flags = FS_OVERLAY_WHITEOUTS if overlay_whiteouts else FS_KEEP_WHITEOUTS
            check(lib.soci_fs_open_layers(layers, 1, flags, ctypes.byref(fs)))
            tree = cls(fs.value, deps=(handle,))
        except BaseException:
            if z is not ztoc:
                z.close()
            raise
        finally:
            handle.close()
        tree.ztoc, tree._own_ztoc = z, z is not ztoc
        return tree

    open = _OpenMethod(_open_layer)

    def close(self):
        super().close()
        if getattr(self, "_own_ztoc", False):
            self.ztoc.close()


class _Config(Handle):
    _free = lib.soci_config_free
    _what = "config"

    @classmethod
    def from_options(cls, options):
        ptr = ctypes.c_void_p()
        check(lib.soci_config_new(ctypes.byref(ptr)))
        cfg = cls(ptr.value)
        for key, value in options.items():
            if key not in OPTIONS:
                cfg.close()
                raise TypeError(f"unknown option {key!r}; known: {', '.join(sorted(OPTIONS))}")
            which, kind = OPTIONS[key]
            if kind is str:
                check(lib.soci_config_set_str(cfg.ptr, which, os.fsencode(value)))
            else:
                check(lib.soci_config_set_u64(cfg.ptr, which, int(value)))
        return cfg


class _ImageHandle(Handle):
    _free = lib.soci_image_free
    _what = "image"


class _CacheHandle(Handle):
    _free = lib.soci_cache_unref
    _what = "cache"


class Image(_Tree):
    """A whole image (registry reference or OCI_LAYOUT_DIR[:TAG]), layers merged with
    overlay semantics, read lazily through its SOCI index. Options are SOCI_OPT_* in
    lower case: platform, plain_http, insecure, ca_file, index_digest, retries, hosts_dir,
    cache_dir, cache_memory, cache_disk, max_connections."""

    @classmethod
    def _open_image(cls, image, **options):
        with _Config.from_options(options) as cfg:
            ptr = ctypes.c_void_p()
            check(lib.soci_cache_new(cfg.ptr, ctypes.byref(ptr)))
            cache = _CacheHandle(ptr.value)
            try:
                img_ptr = ctypes.c_void_p()
                check(lib.soci_image_open(os.fsencode(image), None, cfg.ptr, ctypes.byref(img_ptr)))
                img = _ImageHandle(img_ptr.value)
                try:
                    check(lib.soci_image_set_cache(img.ptr, cache.ptr))
                except BaseException:
                    img.close()
                    raise
            finally:
                cache.close()  # the image holds its own reference
        try:
            fs = ctypes.c_void_p()
            check(lib.soci_fs_open(img.ptr, ctypes.byref(fs)))
            tree = cls(fs.value, deps=(img,))
        finally:
            img.close()
        tree._image = img
        return tree

    open = _OpenMethod(_open_image)

    def info(self):
        """The manifest and SOCI index used, and every layer with its zTOC and how it is
        read ("soci", "estargz", "zstd:chunked" or "whole")."""
        self.ptr  # raises once closed
        img, layers = self._image, []
        for i in range(lib.soci_image_layer_count(img._ptr)):
            layer = ImageLayer()
            check(lib.soci_image_layer(img._ptr, i, ctypes.byref(layer), ctypes.sizeof(layer)))
            layers.append({"digest": layer.digest.decode(), "media_type": layer.media_type.decode(),
                           "size": layer.size, "ztoc_digest": layer.ztoc_digest.decode(),
                           "lazy_path": LAZY_PATHS.get(layer.lazy_path, str(layer.lazy_path)),
                           "diff_id": layer.diff_id.decode(), "toc_digest": layer.toc_digest.decode(),
                           "compression": COMPRESSIONS.get(layer.compression, str(layer.compression))})
        return {"manifest_digest": lib.soci_image_manifest_digest(img._ptr).decode(),
                "index_digest": lib.soci_image_index_digest(img._ptr).decode(),
                "index_version": lib.soci_image_index_version(img._ptr), "layers": layers}

    def background_fetch(self, enable=True):
        """Fetch every span into the cache's disk store in the background (needs cache_dir)."""
        check(lib.soci_fs_background_fetch(self.ptr, 1 if enable else 0))

