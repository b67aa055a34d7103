"""libsoci for Python: SOCI zTOCs, layers and whole images read lazily, over ctypes.

    import soci
    with soci.Image.open("registry.example/app:1") as image:
        with image.open("/etc/os-release") as f:
            print(f.read().decode())

The library is found through $SOCI_LIBRARY, then a build folder of the checkout this
package is in, then the system (libsoci.so.1). Errors are soci.SociError subclasses
carrying libsoci's detail message.
"""
from ._lib import lib as _cdll, path as library_path
from .errors import (AuthError, BlobIOError, DigestError, FormatError, InvalidArgumentError, IsADirectoryError_,
                     LoopError, NetworkError, NotADirectoryError_, NotFoundError, NotSupportedError,
                     OutOfMemoryError, RangeError, SociError, TooBigError)
from .filesystem import Image, Layer
from .ztoc import Ztoc, build_ztoc

__version__ = _cdll.soci_version_string().decode()


def version():
    """libsoci's version string, as the loaded library reports it."""
    return _cdll.soci_version_string().decode()


__all__ = [
    "Image", "Layer", "Ztoc", "build_ztoc", "version", "library_path", "SociError", "AuthError", "BlobIOError",
    "DigestError", "FormatError", "InvalidArgumentError", "IsADirectoryError_", "LoopError", "NetworkError",
    "NotADirectoryError_", "NotFoundError", "NotSupportedError", "OutOfMemoryError", "RangeError", "TooBigError",
]
