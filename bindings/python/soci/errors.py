"""libsoci's negative return codes as exceptions. Each carries the code, its name
(soci_errname), its meaning (soci_strerror) and the detail the library recorded for the
failing call (soci_last_error). Classes also derive from the matching built-in exception
where one exists, so `except FileNotFoundError` works as well as `except soci.NotFoundError`."""
import errno as _errno


class SociError(Exception):
    """A libsoci call failed."""

    def __init__(self, code, name, meaning, detail):
        super().__init__(f"{detail or meaning} ({name})")
        self.code, self.name, self.meaning, self.detail = code, name, meaning, detail
        self.errno = _ERRNO.get(code)

    def __str__(self):
        return f"{self.detail or self.meaning} ({self.name})"


class InvalidArgumentError(SociError, ValueError):
    pass


class OutOfMemoryError(SociError, MemoryError):
    pass


class FormatError(SociError):
    """Malformed or hostile input: a zTOC, tar header, gzip stream or JSON document."""


class DigestError(SociError):
    """Content does not match its digest."""


class NotFoundError(SociError, FileNotFoundError):
    pass


class BlobIOError(SociError, OSError):
    """Reading a blob failed."""


class NetworkError(SociError, ConnectionError):
    pass


class AuthError(SociError, PermissionError):
    pass


class RangeError(SociError, IndexError):
    pass


class NotSupportedError(SociError, NotImplementedError):
    pass


class TooBigError(SociError):
    """Input exceeds a libsoci limit."""


class NotADirectoryError_(SociError, NotADirectoryError):
    pass


class IsADirectoryError_(SociError, IsADirectoryError):
    pass


class LoopError(SociError, OSError):
    """Too many levels of links."""


BY_CODE = {
    -1: InvalidArgumentError, -2: OutOfMemoryError, -3: FormatError, -4: DigestError, -5: NotFoundError,
    -6: BlobIOError, -7: NetworkError, -8: AuthError, -9: RangeError, -10: NotSupportedError, -11: TooBigError,
    -12: NotADirectoryError_, -13: IsADirectoryError_, -14: LoopError,
}
_ERRNO = {-5: _errno.ENOENT, -6: _errno.EIO, -7: _errno.EIO, -8: _errno.EACCES, -12: _errno.ENOTDIR,
          -13: _errno.EISDIR, -14: _errno.ELOOP}
