#!/usr/bin/env bash
# What a consumer outside the tree relies on, checked from a build (default build-ci/gcc):
#  - `meson install --destdir` into a temporary prefix;
#  - examples/embed/read_file.c built with nothing but `pkg-config --cflags --libs
#    libsoci`, then with `pkg-config --static` (libsoci.a linked in), both run on a vector;
#  - the Python binding installed there loading libsoci.so.1 from that prefix;
#  - `meson dist`: the tarball configures, builds and passes its unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-ci/gcc}
vectors=$(pwd)/tests/data/vectors
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== install into a temporary prefix"
meson install -C "$build" --destdir "$work/root" >/dev/null
pc=$(dirname "$(find "$work/root" -name libsoci.pc | head -1)")
libdir=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR=$work/root PKG_CONFIG_PATH=$pc
ls "$libdir"/libsoci.so.1 "$libdir"/libsoci.a >/dev/null

expect="root:x:0:0:root:/root:/bin/sh"
run_example() {
  local bin=$1
  local out
  out=$(LD_LIBRARY_PATH=$libdir "$bin" "$vectors/alltypes-pax-gzip6/span-65536.ztoc" \
    "$vectors/alltypes-pax-gzip6/layer.tar.gz" etc/passwd)
  out=${out%%$'\n'*} # the first line (not `| head -1`: SIGPIPE under pipefail)
  [ "$out" = "$expect" ] || { echo "$bin printed \"$out\""; exit 1; }
}

echo "== examples/embed/read_file.c with pkg-config --cflags --libs libsoci"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror examples/embed/read_file.c $(pkg-config --cflags --libs libsoci) -o "$work/read_file"
# ldd's output is taken whole first: `ldd | grep -q` under pipefail fails whenever grep
# exits at its match before ldd has written everything (SIGPIPE), as a CI run once did.
linked=$(LD_LIBRARY_PATH=$libdir ldd "$work/read_file")
grep -q 'libsoci.so.1 =>' <<<"$linked" || { echo "not linked to libsoci.so.1"; exit 1; }
run_example "$work/read_file"

echo "== the same with pkg-config --static (libsoci.a linked in)"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror examples/embed/read_file.c $(pkg-config --cflags libsoci) \
  -Wl,-Bstatic -lsoci -Wl,-Bdynamic $(pkg-config --static --libs libsoci | sed 's/-lsoci / /') \
  -o "$work/read_file_static"
linked=$(LD_LIBRARY_PATH=$libdir ldd "$work/read_file_static")
if grep -q libsoci <<<"$linked"; then echo "libsoci linked dynamically"; exit 1; fi
run_example "$work/read_file_static"

echo "== the Python binding from the prefix"
site=$(find "$work/root" -type d -name soci -path '*-packages/*' | head -1)
SOCI_LIBRARY=$libdir/libsoci.so.1 PYTHONPATH=$(dirname "$site") python3 -c "
import soci, sys
assert soci.__file__.startswith('$work'), soci.__file__
assert soci.library_path.startswith('$work'), soci.library_path
with soci.Ztoc.open('$vectors/alltypes-pax-gzip6/span-65536.ztoc') as z:
    assert len(z) > 10
print('python: soci', soci.version(), 'from', soci.library_path)
"

echo "== meson dist: the tarball builds and passes its unit tests"
meson dist -C "$build" --no-tests --allow-dirty --formats gztar >/dev/null
tarball=$(ls "$build"/meson-dist/*.tar.gz | head -1)
tar -xzf "$tarball" -C "$work"
src=$(find "$work" -maxdepth 1 -type d -name 'libsoci-*' | head -1)
meson setup "$work/dist-build" "$src" -Dvectors_dir="$vectors" -Dexamples=false -Dbench=false >/dev/null
ninja -C "$work/dist-build" >/dev/null
meson test -C "$work/dist-build" --suite unit --suite fuzz-replay --suite abi --suite python >/dev/null || {
  cat "$work/dist-build/meson-logs/testlog.txt" | tail -40
  exit 1
}
echo "dist: $(basename "$tarball") builds and passes its unit, replay, ABI and Python tests"
