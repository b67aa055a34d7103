#!/usr/bin/env python3
"""One image in the four lazily readable forms: bytes and time to the same start-up set.

usage: bench/formats_bench.py SOCI_INDEX SOCI_MOUNT [MIB] [RTT_MS] [MBYTES_PER_S]

The image is remote_bench.py's (MIB MiB of /usr, one layer) behind the same proxy (RTT_MS
per request, MBYTES_PER_S per response), pushed four times, as root:
  gzip + SOCI index     (soci-index create, 4 MiB spans: the reference's defaults)
  zstd + SOCI index     (pzstd frames, soci-index create: libsoci's zstd zTOC)
  eStargz               (tests/mount/chunked_formats.py, 4 MiB chunks as ctr-remote makes)
  zstd:chunked          (same file, 64 KiB chunks: containers/storage's rolling average)
For each, a cold soci-mount (empty cache directory) reads the 20-file start-up set: the
time from starting soci-mount, and the bytes and requests through the proxy (manifests,
index, zTOC or TOC, data). The baseline, in the same run, is a full pull of the gzip
image (skopeo copy + tar -xzf); ratios are against it.
"""
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "registry"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "mount"))
sys.path.insert(0, HERE)
import bench_image  # noqa: E402
import chunked_formats  # noqa: E402
import test_image  # noqa: E402
from mount_bench import drop_page_cache, mount_startup, parse_args  # noqa: E402

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def variants(work, layout, tool, only=None):
    """name -> layout (tag img) of the image in each form (those named in only, if given)."""
    def zstd(tar, largest):
        data = subprocess.run(["pzstd", "-q", "-c", "-p", "2", "-3"], input=tar, capture_output=True,
                              check=True).stdout
        return data, ZSTD, None, None

    def estargz(tar, largest):
        blob, toc_digest, diff_id = chunked_formats.estargz(tar, chunk_size=4 << 20, min_chunk_size=0)
        return blob, GZIP, {"containerd.io/snapshot/stargz/toc.digest": toc_digest}, diff_id

    def zstd_chunked(tar, largest):
        blob, annotations = chunked_formats.zstd_chunked(tar, chunk_size=64 << 10)
        return blob, ZSTD, annotations, None

    def wanted(name):
        return only is None or name in only

    out = {"gzip + SOCI index": layout}
    if wanted("zstd + SOCI index"):
        out["zstd + SOCI index"] = test_image.recompress(work, layout, "zstd", zstd)
        bench_image.run(tool, "create", f"{out['zstd + SOCI index']}:img")
    if wanted("eStargz"):
        out["eStargz"] = test_image.recompress(work, layout, "estargz", estargz)
    if wanted("zstd:chunked"):
        out["zstd:chunked"] = test_image.recompress(work, layout, "zstd-chunked", zstd_chunked)
    return {name: lay for name, lay in out.items() if wanted(name)}


def layer_size(layout):
    """The image's largest layer, from its manifest (the layout keeps other forms' blobs)."""
    import json
    blobs = f"{layout}/blobs/sha256"
    index = json.load(open(f"{layout}/index.json"))
    top = next(m for m in index["manifests"]
               if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "img")
    doc = json.load(open(f"{blobs}/{top['digest'][7:]}"))
    if "manifests" in doc:  # a v2 SOCI image index: the image manifest is the one without artifactType
        inner = next(m for m in doc["manifests"] if "artifactType" not in m)
        doc = json.load(open(f"{blobs}/{inner['digest'][7:]}"))
    return max(layer["size"] for layer in doc["layers"])


def cold_startup(mount_tool, image, mnt, cache, startup, proxy):
    """(seconds, bytes, requests) from starting soci-mount to the start-up set read."""
    shutil.rmtree(cache, ignore_errors=True)
    proxy.bytes_served = proxy.requests = 0
    seconds = mount_startup(mount_tool, image, mnt, cache, startup)
    moved, requests = proxy.bytes_served, proxy.requests
    subprocess.run(["fusermount3", "-u", mnt], check=True)
    return seconds, moved, requests


def measure(tool, mount_tool, mib, rtt, rate, only=None):
    """The full pull ((seconds, bytes)) and, for each form (or those named in only), a row
    (name, layer bytes, seconds, bytes fetched, requests)."""
    rows = []
    with bench_image.network(rtt, rate, "/var/tmp") as (work, reg, proxy):
        layout, chosen, _ = bench_image.make_usr_image(work, tool, mib, f"{reg.host}/bench:gzip")
        startup = bench_image.startup_sets(chosen)["clustered (one directory)"]
        forms = variants(work, layout, tool, only)
        mnt, cache = f"{work}/mnt", f"{work}/cache"
        os.makedirs(mnt)
        drop_page_cache()
        proxy.bytes_served = 0
        t0 = time.monotonic()
        bench_image.full_pull(work, f"{proxy.host}/bench:gzip")
        full = (time.monotonic() - t0, proxy.bytes_served)
        for i, (name, lay) in enumerate(forms.items()):
            tag = f"{reg.host}/bench:form{i}"
            bench_image.run(tool, "push", f"{lay}:img", tag)
            seconds, moved, requests = cold_startup(mount_tool, f"{proxy.host}/bench:form{i}", mnt, cache,
                                                    startup, proxy)
            rows.append((name, layer_size(lay), seconds, moved, requests))
    return full, rows


def main():
    tool, mount_tool, mib, rtt, rate = parse_args(sys.argv)
    full, rows = measure(tool, mount_tool, mib, rtt, rate)
    mb = 2 ** 20
    print(f"image: {mib} MiB of /usr in one layer; start-up set: 20 files of one directory; network: "
          f"{rtt * 1000:.0f} ms per request, {rate / 1e6:.0f} MB/s per response; soci-mount, cold cache")
    print(f"{'':<22} {'layer':>9} {'to start-up':>12} {'fetched':>10} {'requests':>9}   ratios vs full pull")
    print(f"{'full pull (gzip)':<22} {'':>9} {full[0]:10.2f} s {full[1] / mb:7.1f} MiB {'':>9}")
    for name, size, seconds, moved, requests in rows:
        print(f"{name:<22} {size / mb:6.1f} MiB {seconds:10.2f} s {moved / mb:7.1f} MiB {requests:9d}   "
              f"{full[0] / seconds:5.1f}x sooner, {full[1] / max(moved, 1):5.1f}x fewer bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
