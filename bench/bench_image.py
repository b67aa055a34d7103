"""The image the registry benchmarks share: about MIB MiB of this machine's /usr in one
gzip layer (umoci), indexed with soci-index's defaults (4 MiB spans) and pushed to a
registry. Also the start-up sets they read, and the network they read them over."""
import contextlib
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "registry"))
import fault_proxy  # noqa: E402
import registry_fixture  # noqa: E402


@contextlib.contextmanager
def network(rtt, rate, tmp=None):
    """A work directory (in tmp) with a loopback registry behind a proxy that adds rtt
    seconds to each request and caps each response at rate bytes per second: yields
    (work, registry, proxy), and stops both and removes the directory afterwards."""
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        reg = registry_fixture.Registry(work)
        proxy = fault_proxy.FaultProxy(reg.port, delay=rtt, rate=rate)
        try:
            yield work, reg, proxy
        finally:
            proxy.stop()
            reg.stop()


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, **kw)


def make_usr_image(work, tool, mib, dest):
    """Build, index and push to dest; returns (layout, files in the image, layer bytes)."""
    layout, chosen = make_usr_layout(work, mib)
    run(tool, "create", f"{layout}:img")
    run(tool, "push", f"{layout}:img", dest)
    blobs = f"{layout}/blobs/sha256"
    layer_bytes = sum(os.path.getsize(f"{blobs}/{b}") for b in os.listdir(blobs)
                      if os.path.getsize(f"{blobs}/{b}") > 10 << 20)
    return layout, chosen, layer_bytes


def make_usr_layout(work, mib):
    """An OCI layout (tag img) of about MIB MiB of /usr in one gzip layer, not indexed;
    returns (layout, the files in it)."""
    layout, bundle = f"{work}/layout", f"{work}/bundle"
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:img")
    run("umoci", "unpack", "--image", f"{layout}:img", bundle)
    files = subprocess.run(["find", "/usr", "-xdev", "-type", "f", "-size", "-20M", "-printf", "%s %p\\n"],
                           capture_output=True, text=True).stdout.splitlines()
    files.sort(key=lambda l: l.split(" ", 1)[1])
    chosen, total = [], 0
    for line in files:
        size, path = line.split(" ", 1)
        if total + int(size) > mib << 20:
            break
        total += int(size)
        chosen.append(path)
    with open(f"{work}/list", "w") as f:
        f.write("\n".join(chosen) + "\n")
    subprocess.run(f"tar -cf - --files-from={work}/list 2>/dev/null | tar -xf - -C {bundle}/rootfs",
                   shell=True, check=True)
    run("umoci", "repack", "--image", f"{layout}:img", bundle)
    return layout, chosen


def startup_sets(chosen):
    """20 files of one directory, as a program's start-up reads its own modules (they sit
    together in the tar), and 20 spread at random over the layer, the worst case."""
    rnd = random.Random(1)
    small = [p.lstrip("/") for p in chosen if 1000 < os.path.getsize(p) < 100000]
    by_dir = {}
    for p in small:
        by_dir.setdefault(os.path.dirname(p), []).append(p)
    biggest = max(by_dir.values(), key=len)
    return {"clustered (one directory)": sorted(biggest)[:20], "spread over the layer": sorted(rnd.sample(small, 20))}


def full_pull(work, image):
    """skopeo copy of the image and tar -xzf of its big layer; returns the folder."""
    run("skopeo", "copy", "--src-tls-verify=false", f"docker://{image}", f"oci:{work}/pulled:img")
    out = f"{work}/unpacked"
    os.makedirs(out)
    for b in os.listdir(f"{work}/pulled/blobs/sha256"):
        p = f"{work}/pulled/blobs/sha256/{b}"
        if os.path.getsize(p) > 10 << 20:
            run("tar", "-xzf", p, "-C", out)
    return out
