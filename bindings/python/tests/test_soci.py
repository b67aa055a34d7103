#!/usr/bin/env python3
"""The Python binding against independent sources: every reference vector (its JSON, its
file digests, its zTOC bytes), Python's tarfile and hashlib driving our file objects,
`umoci unpack` of an image read through soci.Image, the exception for each failure, and
no leak over 10,000 open/close cycles.

Environment: SOCI_LIBRARY (libsoci.so.1 to test), SOCI_VECTORS (the reference vectors),
SOCI_INDEX (soci-index, for the image cases; they skip without it or umoci).
"""
import gc
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import stat
import sys
import tarfile
import tempfile
import threading
import unittest

# A sanitizer runtime preloaded into this interpreter (see tests/meson.build) must not
# reach the programs it runs, which carry their own.
SANITIZER_PRELOAD = os.environ.pop("LD_PRELOAD", None)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import soci  # noqa: E402

VECTORS = os.environ.get("SOCI_VECTORS", os.path.join(HERE, "..", "..", "..", "tests", "data", "vectors"))


def vector_cases():
    for case in sorted(os.listdir(VECTORS)):
        folder = os.path.join(VECTORS, case)
        if not os.path.isdir(folder):
            continue
        layer = next((os.path.join(folder, n) for n in ("layer.tar.gz", "layer.tar")
                      if os.path.exists(os.path.join(folder, n))), None)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".ztoc"):
                base = os.path.join(folder, name[:-5])
                yield f"{case}/{name[:-5]}", base + ".ztoc", base + ".json", layer


def xattrs_in_tar(path):
    """Extended attributes a tar sets, as Python's tarfile reads it: each path's last entry
    (hard links share their target's), "SCHILY.xattr." PAX records with a value."""
    last = {}
    with tarfile.open(path) as t:
        for m in t.getmembers():
            if not m.islnk():
                last[m.name.rstrip("/")] = sum(1 for k, v in m.pax_headers.items()
                                                if k.startswith("SCHILY.xattr.") and v)
    return sum(last.values())


def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def make_layer(work):
    """A gzip layer (Python's tarfile) holding a tar archive, links, a loop, an xattr."""
    rnd = random.Random(7)
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as t:
        for i in range(5):
            data = rnd.randbytes(rnd.randint(1000, 300000))
            ti = tarfile.TarInfo(f"member{i}")
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    files = {"data/inner.tar": inner.getvalue(), "data/random": rnd.randbytes(2 << 20), "etc/hello": b"hello\n"}
    path = os.path.join(work, "layer.tar.gz")
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as t:
        for d in ("data", "etc"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            if name == "etc/hello":
                ti.pax_headers = {"SCHILY.xattr.user.greeting": "hi"}
            t.addfile(ti, io.BytesIO(data))
        for name, target in (("loop1", "loop2"), ("loop2", "loop1"), ("up", "../../../etc/hello"),
                              ("abs", "/etc/hello")):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            t.addfile(ti)
    return path, files


class Vectors(unittest.TestCase):
    """Every reference vector, through Ztoc and Layer."""

    def test_every_vector(self):
        cases = list(vector_cases())
        self.assertGreater(len(cases), 5, f"no vectors under {VECTORS}")
        for name, ztoc_path, json_path, layer in cases:
            with self.subTest(name):
                want = json.load(open(json_path))
                with soci.Ztoc.open(ztoc_path) as z:
                    info = z.info()
                    for key in ("version", "build_tool_identifier", "compression_algorithm",
                                "compressed_archive_size", "uncompressed_archive_size", "max_span_id",
                                "span_digests"):
                        self.assertEqual(info[key], want[key], key)
                    if want["compression_algorithm"] == "gzip":
                        self.assertEqual(info["span_size"], want["span_size"])
                    got = z.entries()
                    self.assertEqual(len(got), len(want["entries"]))
                    for g, w in zip(got, want["entries"]):
                        w = dict(w, xattrs={k: v.encode("utf-8", "surrogateescape") for k, v in w["xattrs"].items()})
                        self.assertEqual({k: g[k] for k in w}, w)
                    with soci.Layer.open(layer, z) as tree:
                        self.assertEqual(tree.counters()["xattrs"], xattrs_in_tar(layer))
                        for path, digest in want["file_sha256"].items():
                            with tree.open(path) as f:
                                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), digest, path)
                # The zTOC from bytes is the same zTOC; building it again gives the same bytes.
                data = open(ztoc_path, "rb").read()
                with soci.Ztoc.open(data) as z:
                    self.assertEqual(z.info()["span_digests"], want["span_digests"])
                if want.get("checkpoint_blob_version", 2) == 2:
                    for threads in (None, 1, 2):
                        built = soci.build_ztoc(layer, span_size=int(name.rsplit("-", 1)[1]),
                                                build_tool=want["build_tool_identifier"], threads=threads)
                        self.assertEqual(hashlib.sha256(built).hexdigest(), hashlib.sha256(data).hexdigest())


class Files(unittest.TestCase):
    """File objects under tarfile, shutil and hashlib; paths; errors."""

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp()
        cls.layer_path, cls.files = make_layer(cls.work)
        cls.ztoc = soci.build_ztoc(cls.layer_path, span_size=65536)
        cls.tree = soci.Layer.open(cls.layer_path, cls.ztoc)

    @classmethod
    def tearDownClass(cls):
        cls.tree.close()
        shutil.rmtree(cls.work)

    def test_tarfile_reads_a_tar_inside_the_layer(self):
        want = tarfile.open(fileobj=io.BytesIO(self.files["data/inner.tar"]))
        with self.tree.open("data/inner.tar") as f, tarfile.open(fileobj=f) as got:
            self.assertEqual(got.getnames(), want.getnames())
            for m in got.getmembers():
                self.assertEqual(got.extractfile(m).read(), want.extractfile(m.name).read())

    def test_copyfileobj_and_hashlib(self):
        out = io.BytesIO()
        with self.tree.open("/data/random") as f:
            shutil.copyfileobj(f, out, 12345)
        self.assertEqual(out.getvalue(), self.files["data/random"])
        h = hashlib.sha256()
        with self.tree.open("data/random", buffering=0) as f:
            while chunk := f.read(70001):
                h.update(chunk)
        self.assertEqual(h.hexdigest(), hashlib.sha256(self.files["data/random"]).hexdigest())

    def test_seek_tell_readinto(self):
        data = self.files["data/random"]
        with self.tree.open("data/random") as f:
            self.assertTrue(f.seekable() and f.readable() and not f.writable())
            self.assertEqual(f.seek(-100, io.SEEK_END), len(data) - 100)
            self.assertEqual(f.read(), data[-100:])
            self.assertEqual(f.read(), b"")
            f.seek(1000000)
            buf = bytearray(5000)
            self.assertEqual(f.readinto(buf), 5000)
            self.assertEqual(bytes(buf), data[1000000:1005000])
            self.assertEqual(f.tell(), 1005000)

    def test_paths(self):
        t = self.tree
        self.assertEqual(t.listdir("/"), ["abs", "data", "etc", "loop1", "loop2", "up"])
        self.assertEqual(t.listdir("data"), ["inner.tar", "random"])
        walked = {top: (dirs, files) for top, dirs, files in t.walk("/")}
        self.assertEqual(walked["/data"], ([], ["inner.tar", "random"]))
        self.assertTrue(stat.S_ISDIR(t.stat("etc").st_mode))
        self.assertEqual(t.stat("etc/hello").st_size, 6)
        self.assertTrue(stat.S_ISLNK(t.lstat("up").st_mode))
        self.assertEqual(t.readlink("up"), "../../../etc/hello")
        # Symlinks resolve inside the tree: ".." stops at its root.
        self.assertEqual(t.read_bytes("up"), b"hello\n")
        self.assertEqual(t.read_bytes("abs"), b"hello\n")
        self.assertEqual(t.listxattr("etc/hello"), ["user.greeting"])
        self.assertEqual(t.getxattr("etc/hello", "user.greeting"), b"hi")
        self.assertTrue(t.exists("data/random") and not t.exists("data/nope") and t.isdir("/data"))
        self.assertGreaterEqual(t.statfs()["files"], 9)

    def test_errors(self):
        t = self.tree
        cases = [
            (lambda: t.open("data/nope"), soci.NotFoundError, FileNotFoundError),
            (lambda: t.stat("etc/hello/x"), soci.NotADirectoryError_, NotADirectoryError),
            (lambda: t.read_bytes("loop1"), soci.LoopError, OSError),
            (lambda: t.open("data"), IsADirectoryError, OSError),
            (lambda: t.getxattr("etc/hello", "user.none"), soci.NotFoundError, OSError),
            (lambda: soci.Ztoc.open(b"\x00" * 100), soci.FormatError, soci.SociError),
            (lambda: soci.Ztoc.open("/nonexistent.ztoc"), soci.NotFoundError, OSError),
            (lambda: soci.Image.open("/tmp", bogus=1), TypeError, TypeError),
            (lambda: soci.Image.open("127.0.0.1:1/none:x", retries=0), soci.NetworkError, ConnectionError),
        ]
        for fn, cls, base in cases:
            with self.assertRaises(cls) as cm:
                fn()
            self.assertIsInstance(cm.exception, base)
            if isinstance(cm.exception, soci.SociError):
                self.assertTrue(cm.exception.detail, "the library's detail message is carried")
        with self.assertRaises(soci.NotFoundError) as cm:
            t.stat("no/such")
        self.assertIn("no", str(cm.exception))

    def test_corrupt_layer_is_a_digest_error(self):
        data = bytearray(open(self.layer_path, "rb").read())
        data[len(data) // 2] ^= 0xFF
        with soci.Layer.open(bytes(data), self.ztoc) as bad:
            with self.assertRaises(soci.DigestError):
                bad.read_bytes("data/random")

    def test_closed_handles(self):
        z = soci.Ztoc.open(self.ztoc)
        tree = soci.Layer.open(self.layer_path, z)
        z.close()  # the layer keeps it alive
        f = tree.open("etc/hello")
        tree.close()  # the open file keeps the tree alive
        self.assertEqual(f.read(), b"hello\n")
        f.close()
        with self.assertRaises(ValueError):
            tree.listdir("/")
        with self.assertRaises(ValueError):
            len(z)

    def test_threads(self):
        data, bad = self.files["data/random"], []

        def reader(seed):
            rnd = random.Random(seed)
            for _ in range(50):
                off, n = rnd.randrange(len(data)), rnd.randrange(1, 200000)
                with self.tree.open("data/random", buffering=0) as f:
                    f.seek(off)
                    if f.read(n) != data[off:off + n]:
                        bad.append((off, n))

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(bad, [])

    def test_no_leak_over_10000_cycles(self):
        # A small layer keeps each cycle cheap (it also runs under AddressSanitizer).
        small = os.path.join(self.work, "small.tar.gz")
        with tarfile.open(small, "w:gz") as t:
            ti = tarfile.TarInfo("etc/hello")
            ti.size = 6
            t.addfile(ti, io.BytesIO(b"hello\n"))
        small_ztoc = soci.build_ztoc(small)

        def cycle():
            with soci.Ztoc.open(small_ztoc) as z, soci.Layer.open(small, z) as tree:
                with tree.open("etc/hello", buffering=0) as f:
                    assert f.read() == b"hello\n"

        for _ in range(500):
            cycle()
        gc.collect()
        before = rss_kib()
        for i in range(10000):
            cycle()
            if i % 2000 == 0:  # and some left to the garbage collector
                soci.Layer.open(small, small_ztoc).listdir("/")
        gc.collect()
        grown = rss_kib() - before
        self.assertLess(grown, 8 << 10, f"RSS grew by {grown} KiB over 10,000 cycles")


class OverlayWhiteouts(unittest.TestCase):
    """A layer opened as overlayfs reads a lower directory, against the tar's own listing."""

    def test_whiteouts_in_overlay_form(self):
        work = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, work)
        path = os.path.join(work, "layer.tar.gz")
        members = []
        with tarfile.open(path, "w:gz") as t:
            def add(name, data=b"", kind=tarfile.REGTYPE):
                ti = tarfile.TarInfo(name)
                ti.type, ti.size, ti.uid, ti.mtime = kind, len(data), 7, 1700000000
                t.addfile(ti, io.BytesIO(data))
                members.append(name)
            add("a", kind=tarfile.DIRTYPE)
            add("a/kept", b"kept\n")
            add("a/.wh.gone")             # a deleted file
            add("b", kind=tarfile.DIRTYPE)
            add("b/.wh..wh..opq")         # an opaque directory
            add("b/new", b"new\n")
            add(".wh.rootgone")           # at the root
            add("c/d/.wh.deep")           # under directories the tar does not list
        ztoc = soci.build_ztoc(path)
        with tarfile.open(path) as t:
            whiteouts = [m.name for m in t.getmembers() if os.path.basename(m.name).startswith(".wh.")]
        self.assertEqual(len(whiteouts), 4)
        with soci.Layer.open(path, ztoc, overlay_whiteouts=True) as tree:
            for w in whiteouts:
                parent, base = os.path.split(w)
                self.assertNotIn(base, tree.listdir("/" + parent), w)
                if base == ".wh..wh..opq":
                    self.assertEqual(tree.getxattr(parent, "trusted.overlay.opaque"), b"y")
                    self.assertEqual(tree.getxattr(parent, "user.overlay.opaque"), b"y")
                    self.assertEqual(sorted(tree.listxattr(parent)), ["trusted.overlay.opaque", "user.overlay.opaque"])
                    continue
                name = os.path.join(parent, base[len(".wh."):])
                st = tree._stat(tree._ino(name, follow=False))
                self.assertTrue(stat.S_ISCHR(st.mode), f"{name}: mode {st.mode:o}")
                self.assertEqual((st.rdev_major, st.rdev_minor, st.uid), (0, 0, 7), name)
            self.assertEqual(tree.listxattr("a"), [])
            self.assertEqual(tree.counters()["xattrs"], 2)  # b's opacity, by both names
            with self.assertRaises(FileNotFoundError):
                tree.getxattr("a", "trusted.overlay.opaque")
            self.assertEqual(tree.open("b/new").read(), b"new\n")
            self.assertEqual(tree.listdir("/"), ["a", "b", "c", "rootgone"])
        with soci.Layer.open(path, ztoc) as plain:  # as the tar has it
            self.assertIn(".wh.gone", plain.listdir("/a"))
            self.assertEqual(plain.listxattr("b"), [])
            self.assertEqual(plain.counters()["xattrs"], 0)


class Declarations(unittest.TestCase):
    def test_every_export_is_declared(self):
        """Every symbol of the version script has its prototype in soci._lib, and no more."""
        from soci import _lib
        sym = os.path.join(HERE, "..", "..", "..", "lib", "libsoci.sym")
        exported = {line.strip().rstrip(";") for line in open(sym) if line.strip().startswith("soci_")}
        self.assertEqual(set(_lib.PROTOTYPES), exported)


class Packaging(unittest.TestCase):
    def test_wheel_installs_offline(self):
        """pip install of bindings/python with no index (the in-tree backend needs nothing);
        where this python has no pip, the backend's wheel, unpacked as pip would."""
        import subprocess
        import zipfile
        src = os.path.dirname(HERE)
        with tempfile.TemporaryDirectory() as target:
            pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
            if pip.returncode == 0:
                p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
                                    "--no-cache-dir", "--target", target, src], capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, p.stderr)
            else:
                sys.path.insert(0, os.path.join(src, "build_backend"))
                import soci_build
                wheel = soci_build.build_wheel(target)
                zipfile.ZipFile(os.path.join(target, wheel)).extractall(target)
            self.assertTrue(any(n.endswith(".dist-info") for n in os.listdir(target)))
            code = "import soci, sys; print(soci.__file__); print(soci.version())"
            env = dict(os.environ, PYTHONPATH=target)
            if SANITIZER_PRELOAD:  # another interpreter loading the sanitized library
                env["LD_PRELOAD"] = SANITIZER_PRELOAD
            out = subprocess.run([sys.executable, "-c", code], cwd=target, capture_output=True, text=True, env=env)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertTrue(out.stdout.startswith(target), out.stdout)


class Docs(unittest.TestCase):
    def test_docs_example_runs(self):
        """The first Python block of docs/python.md, as a reader would run it."""
        text = open(os.path.join(HERE, "..", "..", "..", "docs", "python.md")).read()
        code = text.split("```python\n", 1)[1].split("```", 1)[0]
        out = io.StringIO()
        env = {"__name__": "__docs__", "print": lambda *a, **k: print(*a, **k, file=out)}
        os.environ.setdefault("SOCI_VECTORS", VECTORS)
        exec(compile(code, "docs/python.md", "exec"), env)
        self.assertIn("refused:", out.getvalue())
        self.assertIn("passwd:", out.getvalue())


class Images(unittest.TestCase):
    """soci.Image over an OCI layout made with umoci, against umoci's own extraction."""

    @classmethod
    def setUpClass(cls):
        tool = os.environ.get("SOCI_INDEX")
        if not tool or shutil.which("umoci") is None:
            raise unittest.SkipTest("needs SOCI_INDEX and umoci")
        sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "mount"))
        import test_image
        cls.work = tempfile.mkdtemp(dir="/var/tmp")
        cls.layout, cls.rootfs = test_image.build(cls.work, tool)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work)

    def test_tree_matches_umoci(self):
        cache = os.path.join(self.work, "cache")
        with soci.Image.open(f"{self.layout}:img", cache_dir=cache, cache_memory=8 << 20) as image:
            info = image.info()
            self.assertEqual(len(info["layers"]), 3)
            self.assertEqual(sum(1 for l in info["layers"] if l["ztoc_digest"]), 2)
            self.assertEqual(sorted(l["lazy_path"] for l in info["layers"]), ["soci", "soci", "whole"])
            self.assertEqual(info["index_version"], 2)
            got = {}
            for top, dirs, files in image.walk("/"):
                for name in dirs + files:
                    path = os.path.join(top, name)
                    st = image.lstat(path)
                    entry = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
                    if stat.S_ISREG(st.st_mode):
                        entry += (hashlib.sha256(image.read_bytes(path)).hexdigest(),)
                    elif stat.S_ISLNK(st.st_mode):
                        entry += (image.readlink(path),)
                    got[path.lstrip("/")] = entry
            counters = image.counters()
        want = {}
        for top, dirs, files in os.walk(self.rootfs):
            for name in dirs + files:
                path = os.path.join(top, name)
                st = os.lstat(path)
                entry = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
                if stat.S_ISREG(st.st_mode):
                    entry += (hashlib.sha256(open(path, "rb").read()).hexdigest(),)
                elif stat.S_ISLNK(st.st_mode):
                    entry += (os.readlink(path),)
                want[os.path.relpath(path, self.rootfs)] = entry
        self.assertEqual(got, want)
        self.assertGreater(counters["cache_misses"], 0)
        self.assertGreater(counters["bytes_served"], 0)
        # A second image over the same cache directory reads spans from it.
        with soci.Image.open(f"{self.layout}:img", cache_dir=cache) as image:
            image.read_bytes("data/big")
            self.assertGreater(image.counters()["cache_disk_hits"], 0)

    def test_layer_diff_ids(self):
        """Each layer's diff_id is the sha256 of its blob inflated here, its compression
        what gzip's magic says."""
        with soci.Image.open(f"{self.layout}:img") as image:
            layers = image.info()["layers"]
        for layer in layers:
            blob = open(os.path.join(self.layout, "blobs", "sha256", layer["digest"][7:]), "rb").read()
            self.assertEqual(blob[:2], b"\x1f\x8b")
            self.assertEqual(layer["compression"], "gzip")
            self.assertEqual(layer["diff_id"], "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest())
            self.assertEqual(layer["toc_digest"], "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
