"""What every wrapper shares: turning return codes into exceptions, and handles that are
freed exactly once, after everything built on them (a layer on its zTOC, a file on its
filesystem), whether by close(), a with block or the garbage collector."""
import ctypes
import os
import threading

from . import errors
from ._lib import lib

_lock = threading.Lock()


def error(code):
    """The exception for a negative code, with this thread's detail message."""
    detail = lib.soci_last_error() or b""
    cls = errors.BY_CODE.get(code, errors.SociError)
    return cls(code, (lib.soci_errname(code) or b"?").decode(), (lib.soci_strerror(code) or b"").decode(),
               detail.decode(errors="replace"))


def check(code):
    """Raise for a negative result; return it otherwise."""
    if code < 0:
        raise error(code)
    return code


def open_source(source, open_mem, open_file, copy_flag):
    """A handle from bytes (copied by the library) or from a path: the two ways zTOCs and
    blobs are opened."""
    ptr = ctypes.c_void_p()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        check(open_mem(data, len(data), copy_flag, ctypes.byref(ptr)))
    else:
        check(open_file(os.fsencode(source), ctypes.byref(ptr)))
    return ptr.value


class Handle:
    """An owned C handle. deps are the handles it uses: they stay allocated until it is
    freed, even if closed first. Users (files, layers...) pin a handle the same way."""

    _free = None  # the C function releasing the handle
    _what = "handle"

    def __init__(self, ptr, deps=()):
        self._ptr = ptr
        self._closed = False
        self._users = 0
        self._deps = tuple(deps)
        for d in self._deps:
            d._pin()

    @property
    def ptr(self):
        if self._closed or not self._ptr:
            raise ValueError(f"{self._what} is closed")
        return self._ptr

    @property
    def closed(self):
        return self._closed

    def _pin(self):
        with _lock:
            if self._closed:
                raise ValueError(f"{self._what} is closed")
            self._users += 1

    def _unpin(self):
        with _lock:
            self._users -= 1
        self._release()

    def _release(self):
        with _lock:
            if not (self._closed and self._users == 0 and self._ptr):
                return
            ptr, self._ptr = self._ptr, None
            deps, self._deps = self._deps, ()
        type(self)._free(ptr)
        for d in deps:
            d._unpin()

    def close(self):
        """Free the handle now (or once what uses it is closed). Idempotent."""
        with _lock:
            if self._closed:
                return
            self._closed = True
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the module may be half gone
            pass
