#!/usr/bin/env bash
# The libsoci demo: build the project, make an OCI image from the machine's own files
# (about 300 MiB of /usr, with umoci), build its SOCI index with libsoci, then read a
# handful of small files lazily through the index and show how little of the layer each
# read needed; then mount the image with soci-mount (FUSE) and list it. Installs what
# it needs (ci/deps.sh). Work files go to DEMO_DIR
# (default /tmp/libsoci-demo); set DEMO_MIB to change the image size.
set -euo pipefail
cd "$(dirname "$0")/.."
./ci/deps.sh

build=build-demo
if [ -d "$build/meson-private" ]; then
  meson setup --reconfigure "$build" --buildtype=release >/dev/null
else
  meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" >/dev/null
tool=$PWD/$build/examples/soci-index/soci-index
mount_tool=$PWD/$build/examples/soci-mount/soci-mount

work=${DEMO_DIR:-/tmp/libsoci-demo}
mib=${DEMO_MIB:-300}
mnt=$work/mnt
if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt"; fi
rm -rf "$work"
mkdir -p "$work"
echo "== making an OCI image of ${mib} MiB of /usr with umoci (in $work)"
umoci init --layout "$work/layout"
umoci new --image "$work/layout:demo"
umoci unpack --image "$work/layout:demo" "$work/bundle" >/dev/null
find /usr -xdev -type f -size -20M -printf '%s %p\n' 2>/dev/null | sort -k2 |
  awk -v max=$((mib * 1024 * 1024)) '{ total += $1; if (total <= max) print $2 }' > "$work/files"
tar -cf - --files-from="$work/files" 2>/dev/null | tar -xf - -C "$work/bundle/rootfs"
umoci repack --image "$work/layout:demo" "$work/bundle" >/dev/null

echo
echo "== building its SOCI index (v2, 4 MiB spans) with libsoci"
"$tool" create "$work/layout:demo" | tee "$work/create.out"
"$tool" index info "$work/layout" > "$work/index.txt"

echo
echo "== reading a few small files lazily through the zTOC"
python3 - "$tool" "$work" <<'PY'
import json, os, subprocess, sys
tool, work = sys.argv[1], sys.argv[2]
layout = f"{work}/layout"
info = json.loads(subprocess.run([tool, "index", "info", "--json", layout], check=True, capture_output=True).stdout)
z = info["ztocs"][0]
ztoc = f"{layout}/blobs/sha256/{z['digest'][7:]}"
layer = f"{layout}/blobs/sha256/{z['layer_digest'][7:]}"
layer_size = os.path.getsize(layer)
entries = json.loads(subprocess.run([tool, "ztoc", "list", "--json", ztoc], check=True, capture_output=True).stdout)
# Five small files spread over the layer, as a program's start-up might touch.
small = [e for e in entries if e["type"] == "reg" and 1000 < e["uncompressed_size"] < 200000]
picks = [small[int(len(small) * f)] for f in (0.05, 0.25, 0.5, 0.75, 0.95)] if small else []
total_fetched = 0
print(f"layer {z['layer_digest'][:19]}...: {layer_size / 2**20:.1f} MiB compressed, zTOC {z['size'] / 2**10:.0f} KiB")
for e in picks:
    p = subprocess.run([tool, "ztoc", "get-file", "--stats", ztoc, layer, e["name"]], capture_output=True, check=True)
    stats = dict(kv.split("=") for kv in p.stderr.decode().split())
    fetched = int(stats["fetched"])
    total_fetched += fetched
    print(f"  /{e['name']:<60.60} {len(p.stdout):>7} bytes: read {fetched / 2**20:5.2f} MiB of the layer "
          f"({100 * fetched / layer_size:4.1f}%) in {stats['requests']} read, {stats['spans']} span(s)")
print(f"{len(picks)} files: {total_fetched / 2**20:.1f} MiB read of {layer_size / 2**20:.1f} MiB "
      f"({100 * total_fetched / layer_size:.1f}%), instead of pulling and unpacking the whole layer")
PY

echo
echo "== mounting the image with soci-mount (FUSE, read-only, lazy) and listing it"
mkdir -p "$mnt"
"$mount_tool" --cache-dir "$work/cache" --no-background-fetch "$work/layout:demo" "$mnt"
trap 'fusermount3 -u "$mnt" 2>/dev/null || true' EXIT
echo "\$ ls -l $mnt/usr"
ls -l "$mnt/usr"
header=$(find "$mnt/usr/include" -maxdepth 1 -name '*.h' | sort)
header=${header%%$'\n'*} # the first (not `| head -1`, which may SIGPIPE sort under pipefail)
echo "\$ head -5 $header"
head -5 "$header"
files=$(find "$mnt" -type f | wc -l)
echo "$files files listed from the zTOC alone; the cache holds $(du -sh "$work/cache" | cut -f1) (the zTOC and one span)"
fusermount3 -u "$mnt"
trap - EXIT
echo "unmounted $mnt"
