#!/usr/bin/env python3
"""soci-indexer against indexing by hand, in one run, on a loopback registry.

usage: bench/indexer_bench.py SOCI_INDEX SOCI_INDEXER [MIB] [BATCH]

The image: about MIB MiB (default 800) of this machine's /usr in one gzip layer, not
indexed (bench/bench_image.py), pushed with skopeo.
  by hand:  the image pushed plain, then `soci-index create` of the local layout and
            `soci-index push` of it (the layer is in the registry already: zTOCs and
            manifests go up): the time of those two commands;
  indexer:  docker-registry notifying soci-indexer; from the end of `skopeo copy` of
            the image to its index being readable (`soci-index index info` finds it);
  batch:    BATCH (default 20) repositories of the same image pushed at once (skopeo in
            parallel): images indexed per minute, from the first push's start to the
            last index found.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "registry"))
import bench_image  # noqa: E402
import registry_fixture  # noqa: E402

SECRET = "bench-secret"


def run(*args):
    return subprocess.run(list(args), check=True, capture_output=True)


def push(layout, ref):
    run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{ref}")


def indexed(tool, ref):
    p = subprocess.run([tool, "index", "info", "--json", ref], capture_output=True)
    return p.returncode == 0 and json.loads(p.stdout).get("ztocs")


def wait_indexed(tool, ref, timeout=1800):
    deadline = time.time() + timeout
    while not indexed(tool, ref):
        if time.time() > deadline:
            raise SystemExit(f"{ref}: no index after {timeout} s")
        time.sleep(0.1)
    return time.monotonic()


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    tool, indexer = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    mib = int(sys.argv[3]) if len(sys.argv) > 3 else 800
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        port = registry_fixture.free_port()
        with open(f"{work}/secret", "w") as f:
            f.write(SECRET + "\n")
        reg = registry_fixture.Registry(work, auth_config=[
            "notifications:", "  endpoints:", "    - name: soci-indexer", f"      url: http://127.0.0.1:{port}/events",
            "      headers:", f"        Authorization: [Bearer {SECRET}]", "      timeout: 2s", "      threshold: 3",
            "      backoff: 1s"])
        log = open(f"{work}/indexer.log", "w")
        ix = None
        try:
            layout, _ = bench_image.make_usr_layout(work, mib)
            layer = max(os.path.getsize(f"{layout}/blobs/sha256/{b}") for b in os.listdir(f"{layout}/blobs/sha256"))
            # The by-hand run stores its index in the layout: the indexer gets a plain copy.
            plain = f"{work}/plain"
            run("cp", "-a", layout, plain)

            # By hand: the plain image first (as the indexer finds it), then create + push.
            push(plain, f"{reg.host}/hand:1")
            t0 = time.monotonic()
            run(tool, "create", f"{layout}:img")
            run(tool, "push", f"{layout}:img", f"{reg.host}/hand:1")
            hand = time.monotonic() - t0

            ix = subprocess.Popen([indexer, "--registry", reg.host, "--listen", f"127.0.0.1:{port}", "--state-dir",
                                   f"{work}/state", "--secret-file", f"{work}/secret"], stdout=log,
                                  stderr=subprocess.STDOUT)
            time.sleep(0.5)
            push(plain, f"{reg.host}/auto:1")
            pushed = time.monotonic()
            auto = wait_indexed(tool, f"{reg.host}/auto:1") - pushed

            refs = [f"{reg.host}/batch{i}:1" for i in range(batch)]
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(max_workers=batch) as ex:
                list(ex.map(lambda r: push(plain, r), refs))
            last = max(wait_indexed(tool, r) for r in refs)
            per_minute = batch / ((last - t0) / 60)
        finally:
            if ix:
                ix.terminate()
                ix.wait(timeout=300)
            log.close()
            reg.stop()
        print(f"image: {mib} MiB of /usr, one gzip layer of {layer / 1e6:.0f} MB (loopback registry)")
        print(f"by hand: soci-index create + push            {hand:7.2f} s")
        print(f"soci-indexer: end of skopeo copy -> indexed  {auto:7.2f} s  ({auto / hand:.2f}x by hand)")
        print(f"batch of {batch} pushed at once: {per_minute:.1f} images indexed per minute "
              f"({last - t0:.1f} s from the first push to the last index)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
