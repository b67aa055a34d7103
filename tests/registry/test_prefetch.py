#!/usr/bin/env python3
"""Prefetch artifacts and the per-host connection bound, through a real registry behind
a counting proxy, read with the Python binding.

- `soci-index create --prefetch-file` writes, for the layer the container sees each file
  in, an artifact in the reference's format (version "1.0", inclusive span ranges) whose
  ranges are exactly the spans holding the file's bytes: where the bytes lie comes from
  Python's tarfile on the layer, the span boundaries from the zTOC's checkpoints. A file
  the upper layer deletes, and one that exists nowhere, get none (and are reported).
- Opening the pushed image and calling prefetch_artifacts() fetches those spans (range
  requests through the proxy); reading the files afterwards costs no request, and their
  bytes equal umoci's extraction. With the artifacts ignored, the same reads do go out.
- Learned prefetch: reads through the binding are recorded (prefetch_record()); the
  record lists, per layer, exactly the spans tarfile and the zTOC place the bytes read
  in, the first read's first, and exactly the bytes read (extents);
  `soci-index create --prefetch-record` rebuilds the zTOCs with checkpoints around those
  bytes and writes the new spans holding them as the layers' artifacts: fewer bytes than
  the spans first recorded, and a start from that image fetches them up front and its
  reads then make no request; the EROFS data devices' planned blocks
  (soci_erofs_device_planned) are exactly those whose bytes lie in the artifact's spans,
  in its order, and read back as the files' bytes with no request. The extents serve a build of another span size too; a
  record of spans alone against another zTOC is reported and unused; a broken one fails
  the build.
- Spans far apart, prefetched into a disk store, are asked for together: the registry's
  multipart/byteranges answers (Go's net/http writes them) are placed right, in fewer
  requests than ranges. A server that answers one range per request, or none, is asked
  one range at a time after its first answer, with the same bytes in the end.
- max_connections: many threads reading many files keep at most that many range
  requests in flight at the proxy; without the bound they go wider.

Usage: test_prefetch.py SOCI_INDEX
"""
import ctypes
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
from disk_store import intact, stored_spans  # noqa: E402
import fault_proxy  # noqa: E402
from pyharness import check, run, run_cases  # noqa: E402
import registry_fixture  # noqa: E402
from test_registry import expected_files, make_image  # noqa: E402
import soci  # noqa: E402

PREFETCH = "application/vnd.amazon.soci.prefetch.v1+json"
SPAN = 1 << 20
# Files asked for, and where make_image leaves them: f04 is replaced by the upper layer,
# f03 deleted by it, "hard" is a hard link to f02.
ASKED = ["/data/f10", "/data/big", "/data/f04", "/data/hard", "/data/f03", "/data/nope"]


def blob(layout, digest):
    return open(f"{layout}/blobs/sha256/{digest[7:]}", "rb").read()


def image_manifest_and_index(layout):
    """The image manifest tagged img and its SOCI index (v2: both in the new image index)."""
    idx = json.load(open(f"{layout}/index.json"))
    d = next(m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "img")
    top = json.loads(blob(layout, d["digest"]))
    image = next(m for m in top["manifests"] if "artifactType" not in m)
    index = next(m for m in top["manifests"] if m.get("artifactType", "").startswith("application/vnd.amazon.soci"))
    return json.loads(blob(layout, image["digest"])), json.loads(blob(layout, index["digest"]))


def span_of(checkpoints, off):
    """The span holding uncompressed offset off: the last whose start is at or before it."""
    return max(i for i, cp in enumerate(checkpoints) if cp["out"] <= off)


def expected_ranges(layout, manifest, index, tool):
    """Per layer digest: the spans each asked-for file needs, from tarfile and the zTOC."""
    want = {}
    layers = manifest["layers"]
    ztocs = {e["annotations"]["com.amazon.soci.image-layer-digest"]: e["digest"]
             for e in index["layers"] if e["mediaType"] != PREFETCH}
    for path in ASKED:
        name = path.lstrip("/")
        for layer in reversed(layers):  # top first, as the container sees it
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layout, layer["digest"])))) as t:
                names = {m.name.lstrip("./"): m for m in t.getmembers()}
            base = name.rsplit("/", 1)
            if f"{base[0]}/.wh.{base[1]}" in names:
                break
            m = names.get(name)
            if m is None:
                continue
            if m.islnk():
                m = names[m.linkname.lstrip("./")]
            info = json.loads(run(tool, "ztoc", "info", "--json",
                                  f"{layout}/blobs/sha256/{ztocs[layer['digest']][7:]}").stdout)
            first = span_of(info["checkpoints"], m.offset_data)
            last = span_of(info["checkpoints"], m.offset_data + m.size - 1)
            want.setdefault(layer["digest"], set()).update(range(first, last + 1))
            break
    return want


def test_artifacts(work, reg, tool):
    layout, rootfs = make_image(work, "img-prefetch")
    args = [a for p in ASKED for a in ("--prefetch-file", p)]
    p = run(tool, "create", "--span-size", str(SPAN), "--min-layer-size", "0", *args, f"{layout}:img")
    for missing in ("/data/f03", "/data/nope"):
        check(f"prefetch file {missing}".encode() in p.stderr, f"{missing} not reported: {p.stderr!r}")
    manifest, index = image_manifest_and_index(layout)
    artifacts = [e for e in index["layers"] if e["mediaType"] == PREFETCH]
    want = expected_ranges(layout, manifest, index, tool)
    check(len(artifacts) == len(want) == 2, f"{len(artifacts)} artifacts for {len(want)} layers")
    for a in artifacts:
        layer = a["annotations"]["com.amazon.soci.image-layer-digest"]
        data = blob(layout, a["digest"])
        check(hashlib.sha256(data).hexdigest() == a["digest"][7:] and len(data) == a["size"], "artifact descriptor")
        doc = json.loads(data)
        check(doc["version"] == "1.0" and set(doc) == {"version", "prefetch_spans"}, f"artifact {doc}")
        got = set()
        for r in doc["prefetch_spans"]:
            check(set(r) == {"start_span", "end_span"} and r["start_span"] <= r["end_span"], f"range {r}")
            got.update(range(r["start_span"], r["end_span"] + 1))
        check(got == want.get(layer), f"layer {layer}: spans {sorted(got)}, want {sorted(want.get(layer, ()))}")

    run(tool, "push", f"{layout}:img", f"{reg.host}/prefetch:1")
    files = expected_files(rootfs)
    proxy = fault_proxy.FaultProxy(reg.port)
    try:
        image = f"{proxy.host}/prefetch:1"
        read = ["data/f10", "data/big", "data/f04", "data/hard"]
        with soci.Image.open(image, plain_http=True) as tree:
            # Fetched beside the zTOCs while the tree was opened, once each, not after it.
            asked = [p for p in proxy.paths for a in artifacts if p.endswith(f"/blobs/{a['digest']}")]
            check(len(asked) == len(artifacts), f"{len(asked)} artifact requests opening the tree")
            opened = len(proxy.paths)
            spans = tree.prefetch_artifacts()
            check(spans == sum(len(s) for s in want.values()), f"{spans} spans prefetched")
            again = [p for p in proxy.paths[opened:] if any(p.endswith(a["digest"]) for a in artifacts)]
            check(not again, f"artifacts fetched again to prefetch: {again}")
            before = proxy.range_requests
            check(before > 0, "prefetching made no range request")
            for path in read:
                check(hashlib.sha256(tree.read_bytes(path)).hexdigest() == files[path], f"{path}: bytes differ")
            check(proxy.range_requests == before, f"{proxy.range_requests - before} requests after prefetching")
        # The same reads without the artifacts go to the registry.
        with soci.Image.open(image, plain_http=True) as tree:
            before = proxy.range_requests
            for path in read:
                check(hashlib.sha256(tree.read_bytes(path)).hexdigest() == files[path], f"{path}: bytes differ")
            check(proxy.range_requests > before, "reads without prefetching made no request")
    finally:
        proxy.stop()


def placed_reads(layout, manifest, reads):
    """Each read (path, offset, length) as tarfile places it, in the topmost layer that has
    the path: (layer digest, uncompressed start, end), in the order read."""
    layers = []
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layout, layer["digest"])))) as t:
            layers.append((layer["digest"], {m.name.lstrip("./"): m for m in t.getmembers()}))
    for path, off, length in reads:
        digest, names = next(x for x in reversed(layers) if path in x[1])
        m = names[path]
        yield digest, m.offset_data + off, m.offset_data + min(off + length, m.size)


def ztoc_checkpoints(layout, index, tool):
    """Per layer digest: its zTOC's checkpoints (`soci-index ztoc info`)."""
    checkpoints = {}
    for e in index["layers"]:
        if e["mediaType"] != PREFETCH:
            info = json.loads(run(tool, "ztoc", "info", "--json", f"{layout}/blobs/sha256/{e['digest'][7:]}").stdout)
            checkpoints[e["annotations"]["com.amazon.soci.image-layer-digest"]] = info["checkpoints"]
    return checkpoints


def spans_read(layout, manifest, index, tool, reads):
    """Per layer digest: the spans holding the bytes of reads ((path, offset, length), each
    in the topmost layer that has the path), as tarfile and the zTOC's checkpoints place
    them, one set per read in the order read."""
    want, checkpoints = {}, ztoc_checkpoints(layout, index, tool)
    for digest, start, end in placed_reads(layout, manifest, reads):
        first, last = span_of(checkpoints[digest], start), span_of(checkpoints[digest], end - 1)
        want.setdefault(digest, []).append(set(range(first, last + 1)))
    return want


def bytes_read(layout, manifest, reads):
    """Per layer digest: the uncompressed bytes of reads as tarfile places them, merged,
    as [start, end) lists."""
    got = {}
    for digest, start, end in placed_reads(layout, manifest, reads):
        got.setdefault(digest, []).append([start, end])
    for digest, ranges in got.items():
        ranges.sort()
        merged = [ranges[0]]
        for a, b in ranges[1:]:
            if a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        got[digest] = merged
    return got


def spans_bytes(layout, index, tool, layer, spans):
    """The uncompressed bytes the layer's spans hold, from its zTOC's checkpoints."""
    ztoc = next(e["digest"] for e in index["layers"]
                if e["mediaType"] != PREFETCH and e["annotations"]["com.amazon.soci.image-layer-digest"] == layer)
    info = json.loads(run(tool, "ztoc", "info", "--json", f"{layout}/blobs/sha256/{ztoc[7:]}").stdout)
    starts = [cp["out"] for cp in info["checkpoints"]] + [info["uncompressed_archive_size"]]
    return sum(starts[s + 1] - starts[s] for s in spans)


EROFS_BLOCK = 4096


def check_planned_device(tree, layout, manifest, index, tool, want, proxy):
    """soci_erofs_device_planned after a replay's prefetch: per layer, exactly the blocks of
    its EROFS data device all of whose file bytes lie in the artifact's spans, in the
    plan's order, block-aligned; read back, they are the files' bytes, and fetch nothing.
    Independently placed: the device holds tarfile's regular files with data in tar
    order, each from a block boundary (docs/kernel.md); spans come from the zTOC's
    checkpoints."""
    from soci._lib import ErofsRange, lib
    before = proxy.range_requests
    checkpoints = ztoc_checkpoints(layout, index, tool)
    planned_layers = 0
    for i, layer in enumerate(manifest["layers"]):
        spans = set().union(*want.get(layer["digest"], [set()]))
        files, addr = [], 0  # (device address, tar data offset, bytes)
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layout, layer["digest"])))) as t:
            device = bytearray()
            for m in t:
                if m.isreg() and m.size > 0:
                    files.append((addr, m.offset_data, m.size))
                    device += t.extractfile(m).read()
                    device += bytes(-len(device) % EROFS_BLOCK)
                    addr = len(device)
        expected = set()
        for at, data, size in files:
            for b in range((size + EROFS_BLOCK - 1) // EROFS_BLOCK):
                first, last = data + b * EROFS_BLOCK, data + min((b + 1) * EROFS_BLOCK, size) - 1
                cps = checkpoints.get(layer["digest"], [{"out": 0}])
                holding = range(span_of(cps, first), span_of(cps, last) + 1)
                if spans and all(s in spans for s in holding):
                    expected.add(at // EROFS_BLOCK + b)
        dev = ctypes.c_void_p()
        check(lib.soci_erofs_device_open(tree._ptr, i, ctypes.byref(dev)) == 0, f"layer {i}: device")
        try:
            v, n = ctypes.POINTER(ErofsRange)(), ctypes.c_size_t()
            check(lib.soci_erofs_device_planned(dev, ctypes.byref(v), ctypes.byref(n)) == 0, f"layer {i}: planned")
            got = [(v[k].off, v[k].len, v[k].rank) for k in range(n.value)]
            lib.soci_free(v)
            blocks = [r[0] // EROFS_BLOCK + b for r in got for b in range(r[1] // EROFS_BLOCK)]
            check(all(off % EROFS_BLOCK == 0 and length % EROFS_BLOCK == 0 and length > 0 for off, length, _ in got),
                  f"layer {i}: unaligned ranges {got}")
            check(sorted(blocks) == sorted(expected), f"layer {i}: planned blocks {sorted(blocks)[:20]}..., "
                  f"want {sorted(expected)[:20]}... ({len(blocks)} against {len(expected)})")
            check([r[2] for r in got] == sorted(r[2] for r in got), f"layer {i}: ranges out of the plan's order")
            for off, length, _ in got:
                buf = ctypes.create_string_buffer(length)
                n = lib.soci_erofs_device_pread_planned(dev, buf, length, off)
                check(n == length and buf.raw == bytes(device[off:off + length]), f"layer {i}: bytes at {off}")
            planned_layers += bool(got)
        finally:
            lib.soci_erofs_device_free(dev)
    check(planned_layers == len(want), f"{planned_layers} layers have planned blocks, {len(want)} artifacts")
    time.sleep(0.5)  # read-ahead, were any started, runs on a thread of its own
    check(proxy.range_requests == before, f"reading the planned blocks made {proxy.range_requests - before} requests")


def test_learned(work, reg, tool):
    """Learned prefetch: a start's reads recorded, the record written as prefetch artifacts
    by an index build, and a replayed start that makes no request for those spans."""
    layout, rootfs = make_image(work, "img-learn")
    create = ["create", "--span-size", str(SPAN), "--min-layer-size", "0"]
    run(tool, *create, f"{layout}:img")
    run(tool, "push", f"{layout}:img", f"{reg.host}/learn:1")
    files = expected_files(rootfs)
    # Read in this order: a whole file, the head of a 12-span file, another whole file (the
    # top layer is too small to be read lazily: fetched whole, it has nothing to record).
    reads = [("data/f10", 0, 1 << 30), ("data/big", 0, 100), ("data/f25", 0, 1 << 30)]
    proxy = fault_proxy.FaultProxy(reg.port)
    try:
        with soci.Image.open(f"{proxy.host}/learn:1", plain_http=True) as tree:
            for path, off, length in reads:
                got = tree.pread(path, length, off) if length < (1 << 30) else tree.read_bytes(path)
                check(hashlib.sha256(got).hexdigest() == files[path] or length < (1 << 30), f"{path}: bytes differ")
            record = tree.prefetch_record()
        manifest, index = image_manifest_and_index(layout)
        want = spans_read(layout, manifest, index, tool, reads)
        doc = json.loads(record)
        check(doc["mediaType"] == "application/vnd.libsoci.prefetch-record.v1+json", f"record {doc}")
        recorded = {l["layer"]: l for l in doc["layers"]}
        check(set(recorded) == set(want), f"record lists layers {sorted(recorded)}, reads touched {sorted(want)}")
        for layer, per_read in want.items():
            ranges = sorted(recorded[layer]["artifact"]["prefetch_spans"], key=lambda r: r.get("priority", 0))
            got = set().union(*(range(r["start_span"], r["end_span"] + 1) for r in ranges))
            check(got == set().union(*per_read), f"layer {layer}: recorded {sorted(got)}, read {per_read}")
            # The spans of the layer's first read come first.
            check(set(range(ranges[0]["start_span"], ranges[0]["end_span"] + 1)) <= per_read[0],
                  f"layer {layer}: first range {ranges[0]}, first read {per_read[0]}")
            # The bytes read, as tarfile places them.
            extents = [e[:2] for e in recorded[layer]["extents"]]
            check(extents == bytes_read(layout, manifest, reads)[layer], f"layer {layer}: extents {extents}")
        record_path = f"{work}/learn-record.json"
        with open(record_path, "wb") as f:
            f.write(record)
        recorded_bytes = sum(spans_bytes(layout, index, tool, layer, set().union(*s)) for layer, s in want.items())

        # The record becomes the layers' artifacts: the spans of the rebuilt zTOCs that
        # hold the bytes read, fewer bytes than the spans first recorded.
        run(tool, *create, "--prefetch-record", record_path, f"{layout}:img")
        manifest, index = image_manifest_and_index(layout)
        want = spans_read(layout, manifest, index, tool, reads)
        artifacts = {e["annotations"]["com.amazon.soci.image-layer-digest"]: json.loads(blob(layout, e["digest"]))
                     for e in index["layers"] if e["mediaType"] == PREFETCH}
        check(set(artifacts) == set(want), f"artifacts for {sorted(artifacts)}")
        for layer, doc in artifacts.items():
            got = set().union(*(range(r["start_span"], r["end_span"] + 1) for r in doc["prefetch_spans"]))
            check(got == set().union(*want[layer]), f"layer {layer}: artifact spans {sorted(got)}")
        learned_bytes = sum(spans_bytes(layout, index, tool, layer, set().union(*s)) for layer, s in want.items())
        check(learned_bytes < recorded_bytes * 3 / 4, f"learned spans hold {learned_bytes} bytes, recorded {recorded_bytes}")
        run(tool, "push", f"{layout}:img", f"{reg.host}/learn:2")

        # Replayed: the artifacts fetched first, then the same reads make no request.
        with soci.Image.open(f"{proxy.host}/learn:2", plain_http=True) as tree:
            spans = tree.prefetch_artifacts()
            check(spans == sum(len(set().union(*s)) for s in want.values()), f"{spans} spans prefetched")
            check_planned_device(tree, layout, manifest, index, tool, want, proxy)
            before = proxy.range_requests
            for path, off, length in reads:
                got = tree.pread(path, length, off) if length < (1 << 30) else tree.read_bytes(path)
                check(length < (1 << 30) or hashlib.sha256(got).hexdigest() == files[path], f"{path}: bytes differ")
            check(proxy.range_requests == before, f"{proxy.range_requests - before} demand requests after replay")
            counters = tree.counters()
            check(counters["spans_demanded"] == spans and counters["spans_redecoded"] == 0, f"counters {counters}")
    finally:
        proxy.stop()

    # Extents are bytes of the layer: a build of another span size places its checkpoints
    # around them and names its own spans.
    other = ["create", "--span-size", str(2 * SPAN), "--min-layer-size", "0", "--prefetch-record", record_path]
    run(tool, *other, f"{layout}:img")
    manifest, index = image_manifest_and_index(layout)
    want = spans_read(layout, manifest, index, tool, reads)
    for e in index["layers"]:
        if e["mediaType"] == PREFETCH:
            doc = json.loads(blob(layout, e["digest"]))
            got = set().union(*(range(r["start_span"], r["end_span"] + 1) for r in doc["prefetch_spans"]))
            layer = e["annotations"]["com.amazon.soci.image-layer-digest"]
            check(got == set().union(*want[layer]), f"layer {layer}, span size {2 * SPAN}: spans {sorted(got)}")
    # A record of spans alone (as made before extents) against other zTOCs is not used, and
    # says so.
    doc = json.loads(record)
    for layer in doc["layers"]:
        del layer["extents"]
    with open(record_path, "w") as f:
        json.dump(doc, f)
    p = run(tool, *other, f"{layout}:img")
    check(b"another zTOC" in p.stderr, f"mismatched record not reported: {p.stderr!r}")
    manifest, index = image_manifest_and_index(layout)
    check(not [e for e in index["layers"] if e["mediaType"] == PREFETCH], "artifact from a mismatched record")
    # A broken record fails the build, naming it.
    for bad in (b"{", b'{"mediaType":"x","layers":[]}', record.replace(b'"start_span":', b'"start_span":-'),
                record.replace(b'"extents":[[', b'"extents":[[-'), record.replace(b'"extents":[[', b'"extents":[[1,')):
        with open(record_path, "wb") as f:
            f.write(bad)
        p = run(tool, *create, "--prefetch-record", record_path, f"{layout}:img", ok=False)
        check(p.returncode != 0 and b"prefetch record" in p.stderr, f"bad record {bad[:40]!r}: {p.stderr!r}")


def test_ranges_together(work, reg, tool):
    """Prefetched spans far apart go to the registry as requests for several ranges."""
    layout, rootfs = make_image(work, "img-together")
    asked = ["/data/f00", "/data/f08", "/data/f16", "/data/f24", "/data/sub/text"]
    args = [a for p in asked for a in ("--prefetch-file", p)]
    run(tool, "create", "--span-size", str(SPAN), "--min-layer-size", "0", *args, f"{layout}:img")
    run(tool, "push", f"{layout}:img", f"{reg.host}/together:1")
    files = expected_files(rootfs)
    proxy = fault_proxy.FaultProxy(reg.port)
    try:
        # Each way of answering, with a cache directory of its own (a disk store: the spans
        # go there fetched, not decoded, and in jobs of several runs).
        for mode in ("multipart", "first range only", "no ranges"):
            proxy.first_range_only, proxy.strip_range = mode == "first range only", mode == "no ranges"
            proxy.script([])
            proxy.multi_range_requests, proxy.ranges = 0, []
            cache = tempfile.mkdtemp(dir=work)
            with soci.Image.open(f"{proxy.host}/together:1", plain_http=True, cache_dir=cache) as tree:
                spans = tree.prefetch_artifacts()
                check(spans > len(asked), f"{mode}: {spans} spans prefetched")
                requests, ranges = proxy.range_requests, len(proxy.ranges)
                for path in asked:
                    got = tree.read_bytes(path)
                    check(hashlib.sha256(got).hexdigest() == files[path.lstrip("/")], f"{mode}: {path}: bytes differ")
                check(proxy.range_requests == requests, f"{mode}: {proxy.range_requests - requests} requests after")
            if mode == "multipart":
                check(proxy.multi_range_requests >= 1 and requests < ranges,
                      f"{mode}: {requests} requests for {ranges} ranges, {proxy.multi_range_requests} for several")
            else:  # once answered otherwise, asked for one range at a time: requests for
                # several are only those sent before that answer, one a prefetch thread at most
                check(1 <= proxy.multi_range_requests <= 8, f"{mode}: {proxy.multi_range_requests} requests for several")
                check(mode != "no ranges" or proxy.whole_answers >= 1, f"{mode}: no whole answer")
    finally:
        proxy.stop()


def test_corrupt_stored(work, reg, tool):
    """Spans fetched ahead go to the disk store as fetched: the read that loads one checks
    it, so a check before storing too would hash every span twice. A corrupt answer is
    stored; the read that loads it drops it, fetches it again and returns the right bytes."""
    layout, rootfs = make_image(work, "img-corrupt")
    asked = ["/data/f00", "/data/f08", "/data/f16", "/data/f24"]
    args = [a for p in asked for a in ("--prefetch-file", p)]
    run(tool, "create", "--span-size", str(SPAN), "--min-layer-size", "0", *args, f"{layout}:img")
    run(tool, "push", f"{layout}:img", f"{reg.host}/corrupt:1")
    files = expected_files(rootfs)
    proxy = fault_proxy.FaultProxy(reg.port)
    cache = tempfile.mkdtemp(dir=work)
    try:
        with soci.Image.open(f"{proxy.host}/corrupt:1", plain_http=True, cache_dir=cache) as tree:
            proxy.script(["corrupt"] * 1000)  # the zTOCs are in: every span request from here
            tree.prefetch_artifacts()
            proxy.script([])
            # One byte of each answer changed: one span of each request.
            bad = [path for path in stored_spans(cache) if not intact(path)]
            check(bad, f"no corrupt span stored of {len(stored_spans(cache))}")
            for path in sorted(files):  # every span of the layer holds some file's bytes
                got = tree.read_bytes(path)
                check(hashlib.sha256(got).hexdigest() == files[path], f"{path}: bytes differ")
            dropped = tree.counters()["disk_corrupt"]
            check(dropped >= len(bad), f"{dropped} corrupt store entries dropped, {len(bad)} stored")
        check(all(intact(path) for path in stored_spans(cache)), "a corrupt span stayed in the store")
    finally:
        proxy.stop()


def test_connection_bound(work, reg, tool):
    layout, rootfs = make_image(work, "img-bound")
    run(tool, "create", "--span-size", str(SPAN), f"{layout}:img")
    run(tool, "push", f"{layout}:img", f"{reg.host}/bound:1")
    files = expected_files(rootfs)
    paths = sorted(p for p in files if p.startswith("data/f"))
    proxy = fault_proxy.FaultProxy(reg.port, delay=0.05)
    try:
        for bound in (2, None):
            proxy.max_inflight = 0
            opts = {"plain_http": True}
            if bound:
                opts["max_connections"] = bound
            errors = []
            with soci.Image.open(f"{proxy.host}/bound:1", **opts) as tree:
                def reader(chunk):
                    for path in chunk:
                        if hashlib.sha256(tree.read_bytes(path)).hexdigest() != files[path]:
                            errors.append(path)
                threads = [threading.Thread(target=reader, args=(paths[i::12],)) for i in range(12)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            check(not errors, f"bytes differ: {errors}")
            if bound:
                check(0 < proxy.max_inflight <= bound, f"bound {bound}: {proxy.max_inflight} requests at once")
            else:
                check(proxy.max_inflight > 2, f"unbounded: only {proxy.max_inflight} requests at once")
    finally:
        proxy.stop()


def main():
    tool = os.path.abspath(sys.argv[1])
    # Under ASan this interpreter runs with the sanitizer runtime preloaded; the programs it
    # starts (umoci is Go; soci-index carries its own runtime) must not inherit that.
    os.environ.pop("LD_PRELOAD", None)
    if not registry_fixture.available() or shutil.which("umoci") is None:
        print("SKIP: docker-registry or umoci missing (ci/deps.sh installs them)")
        return 77
    with tempfile.TemporaryDirectory() as work:
        reg = registry_fixture.Registry(work)
        try:
            return run_cases([
                ("prefetch artifacts: written, pushed, honoured", lambda: test_artifacts(work, reg, tool)),
                ("learned prefetch: recorded, written, replayed", lambda: test_learned(work, reg, tool)),
                ("spans far apart asked for together", lambda: test_ranges_together(work, reg, tool)),
                ("a corrupt span fetched ahead: stored, dropped when read", lambda: test_corrupt_stored(work, reg, tool)),
                ("requests in flight bounded per host", lambda: test_connection_bound(work, reg, tool)),
            ])
        finally:
            reg.stop()


if __name__ == "__main__":
    sys.exit(main())
