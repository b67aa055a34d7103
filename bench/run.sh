#!/usr/bin/env bash
# The benchmarks of libsoci, each a ratio against a baseline measured in the same run.
# usage: bench/run.sh [BUILD_DIR] [MIB]   (BUILD_DIR defaults to build; MIB of /usr to pack, 300)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mib=${2:-300}
layer=${BENCH_LAYER:-/tmp/libsoci-bench-$mib.tar.gz}
[ -s "$layer" ] || bench/make_layer.sh "$layer" "$mib"
echo "== span decoding vs plain zlib inflate ($layer)"
"$build/bench/bench_span" "$layer"
echo
echo "== zTOC build vs gzip -dc"
"$build/bench/bench_build" "$layer"
