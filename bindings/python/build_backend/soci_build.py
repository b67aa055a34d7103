"""A PEP 517 build backend for this one pure-Python package, kept in the tree so that
`pip install bindings/python` needs nothing from PyPI (build isolation installs the
backend's requirements, and there are none). It writes a py3-none-any wheel and an sdist
from the files under soci/ and the [project] table of pyproject.toml."""
import base64
import hashlib
import io
import os
import tarfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        text = f.read()
    if tomllib:
        return tomllib.loads(text.decode())["project"]
    fields = {}
    for line in text.decode().splitlines():
        if "=" in line and line.split("=")[0].strip() in ("name", "version", "description", "requires-python"):
            key, value = line.split("=", 1)
            fields[key.strip()] = value.strip().strip('"')
    return fields


def _metadata(p):
    lines = ["Metadata-Version: 2.1", f"Name: {p['name']}", f"Version: {p['version']}",
             f"Summary: {p.get('description', '')}", f"Requires-Python: {p.get('requires-python', '>=3.9')}",
             "License: Apache-2.0"]
    return "\n".join(lines) + "\n"


def _sources():
    for dirpath, _, files in os.walk(os.path.join(ROOT, "soci")):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                yield os.path.relpath(path, ROOT), path


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    p = _project()
    dist = f"{p['name']}-{p['version']}"
    name = f"{dist}-py3-none-any.whl"
    files = [(arc, open(path, "rb").read()) for arc, path in _sources()]
    files.append((f"{dist}.dist-info/METADATA", _metadata(p).encode()))
    files.append((f"{dist}.dist-info/WHEEL",
                  b"Wheel-Version: 1.0\nGenerator: soci_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    record = [_record_line(arc, data) for arc, data in files] + [f"{dist}.dist-info/RECORD,,"]
    files.append((f"{dist}.dist-info/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            z.writestr(zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return name


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    dist = f"{p['name']}-{p['version']}"
    name = f"{dist}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for arc, path in list(_sources()) + [("pyproject.toml", os.path.join(ROOT, "pyproject.toml")),
                                              ("build_backend/soci_build.py", os.path.abspath(__file__))]:
            tar.add(path, arcname=f"{dist}/{arc}")
        info = tarfile.TarInfo(f"{dist}/PKG-INFO")
        data = _metadata(p).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return name
