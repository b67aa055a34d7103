"""eStargz and zstd:chunked layers written by the real encoder: Debian's stargz-snapshotter
(`ctr-remote images convert`, which converts inside a containerd started here on a
private socket, no network). The converted image is exported as an OCI layout and read
through the image API; every entry is compared with tarfile's reading of the original
tar, and each layer must have been read through its own TOC."""
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
from pyharness import check, run_cases  # noqa: E402
import soci  # noqa: E402
import test_chunked_layers as layers  # noqa: E402

NAME = "docker.io/library/libsoci-test"
# containerd and ctr-remote are Go programs: keep the sanitizer runtime the ASan build
# preloads into Python away from them.
TOOL_ENV = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}


class Containerd:
    def __init__(self, work):
        self.sock = f"{work}/containerd.sock"
        config = f"{work}/containerd.toml"
        with open(config, "w") as f:
            f.write(f'version = 2\nroot = "{work}/root"\nstate = "{work}/state"\n'
                    f'[grpc]\n  address = "{self.sock}"\n')
        self.log = open(f"{work}/containerd.log", "w")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=TOOL_ENV)
        deadline = time.time() + 30
        while not os.path.exists(self.sock) and time.time() < deadline:
            time.sleep(0.1)

    def ctr(self, *args):
        r = subprocess.run(["ctr-remote", "-a", self.sock, *args], capture_output=True, text=True, env=TOOL_ENV)
        if r.returncode != 0:
            raise RuntimeError(f"ctr-remote {' '.join(args)}: {r.stderr.strip()}")
        return r

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def convert(ctd, work, flag, tag):
    """ctr-remote images convert FLAG --oci, exported and unpacked as an OCI layout."""
    ctd.ctr("images", "convert", flag, "--oci", f"{NAME}:gzip", f"{NAME}:{tag}")
    archive = f"{work}/{tag}.tar"
    ctd.ctr("images", "export", archive, f"{NAME}:{tag}")
    out = f"{work}/{tag}"
    os.makedirs(out)
    with tarfile.open(archive) as t:
        t.extractall(out)
    return f"{out}:{tag}"


def check_converted(ref, tar, want_path):
    with soci.Image.open(ref) as img:
        paths = layers.lazy_path(img)
        check(paths == [want_path], f"layers read as {paths}")
        layers.compare(img, tar, f"ctr-remote {want_path}")


def main():
    if os.geteuid() != 0 or shutil.which("containerd") is None or shutil.which("ctr-remote") is None:
        print("SKIP: needs root, containerd and ctr-remote (ci/deps.sh installs containerd, stargz-snapshotter)")
        return 77
    tar = layers.make_tar()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        gz = layers.write_layout(work, "gzip", [(layers.gzip_layer(tar), layers.GZIP, None,
                                                 layers.chunked_formats.sha256(tar))])
        layout = gz.rsplit(":", 1)[0]
        layers.retag(layout, f"{NAME}:gzip")
        archive = f"{work}/gzip.tar"
        with tarfile.open(archive, "w") as t:
            for name in os.listdir(layout):
                t.add(f"{layout}/{name}", arcname=name)
        ctd = Containerd(work)
        try:
            ctd.ctr("images", "import", "--no-unpack", archive)  # unpacking would apply the odd xattrs
            return run_cases([
                ("ctr-remote --estargz: every entry vs tarfile",
                 lambda: check_converted(convert(ctd, work, "--estargz", "esgz"), tar, "estargz")),
                ("ctr-remote --zstdchunked: every entry vs tarfile",
                 lambda: check_converted(convert(ctd, work, "--zstdchunked", "zstdchunked"), tar, "zstd:chunked")),
            ])
        finally:
            ctd.stop()


if __name__ == "__main__":
    sys.exit(main())
