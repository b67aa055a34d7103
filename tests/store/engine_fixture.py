"""A real podman, isolated in a folder of its own, and soci-store serving it.

Podman: its own storage.conf (overlay driver, graph and run roots under the folder,
optionally soci-store as its additional layer store), containers.conf (runc with
cgroupfs, file events, ulimits this sandbox allows) and registries.conf (the loopback
registry insecure), handed to it through CONTAINERS_*_CONF. Nothing of the machine's own
podman state is used or touched.

Store: soci-store in the foreground, its log kept, started and stopped like a service.
"""
import os
import shutil
import signal
import subprocess
import time


def available():
    """What is missing for these tests, or "" (ci/deps.sh installs all of it)."""
    if os.geteuid() != 0:
        return "root"
    for tool in ("podman", "runc", "umoci", "docker-registry", "fusermount3"):
        if shutil.which(tool) is None:
            return tool
    return "/dev/fuse" if not os.path.exists("/dev/fuse") else ""


class Podman:
    def __init__(self, work, name, registry_host, store=None, mirror=None):
        self.dir = f"{work}/{name}"
        os.makedirs(f"{self.dir}/tmp", exist_ok=True)
        als = f'[storage.options]\nadditionallayerstores = ["{store}:ref"]\n' if store else ""
        with open(f"{self.dir}/storage.conf", "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{self.dir}/graph"\n'
                    f'runroot = "{self.dir}/run"\n{als}')
        with open(f"{self.dir}/containers.conf", "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    f'[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n'
                    f'tmp_dir = "{self.dir}/tmp"\n')
        self.registries_conf = f"{self.dir}/registries.conf"
        with open(self.registries_conf, "w") as f:
            f.write(f'[[registry]]\nlocation = "{registry_host}"\ninsecure = true\n')
            if mirror:
                f.write(f'[[registry.mirror]]\nlocation = "{mirror}"\ninsecure = true\n')
        self.env = dict(os.environ, CONTAINERS_STORAGE_CONF=f"{self.dir}/storage.conf",
                        CONTAINERS_CONF=f"{self.dir}/containers.conf",
                        CONTAINERS_REGISTRIES_CONF=f"{self.dir}/registries.conf")

    def __call__(self, *args, timeout=300):
        return subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def reset(self):
        """Every image and container gone, as on a machine that never pulled."""
        self("rm", "-a", "-f")
        self("rmi", "-a", "-f")

    def destroy(self):
        self.reset()
        subprocess.run(["podman", "system", "reset", "-f"], env=self.env, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class Store:
    def __init__(self, tool, work, *extra, cache="store-cache", mountpoint=None):
        self.tool, self.extra = tool, list(extra)
        self.dir = mountpoint or f"{work}/store"
        self.cache = f"{work}/{cache}"
        self.log_path = f"{work}/store.log"
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.start()

    def mounted(self):
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == self.dir for line in f)

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.tool, "-f", "--cache-dir", self.cache, *self.extra, self.dir],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not self.mounted():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"soci-store did not mount: {self.read_log()}")
            time.sleep(0.05)

    def stop(self):
        """SIGTERM, as systemd stops it: the exit status, and the mount must be gone."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        self.log.close()
        if self.mounted():
            subprocess.run(["umount", "-l", self.dir])
        return status

    def alive(self):
        return self.proc.poll() is None

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()
