#!/usr/bin/env bash
# The start-up benchmark from a fresh clone, in one command (as root): what it needs from
# Debian (ci/deps.sh, then debootstrap for the image), a release build, then
# bench/startup_bench.py, which prints the table and its profile.
# usage: bench/startup.sh [ROUNDS]   (environment: SPAN_SIZE, FORMATS; see startup_bench.py)
set -euo pipefail
cd "$(dirname "$0")/.."
ci/deps.sh
build=build-rel
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release -Dmount=enabled >/dev/null
ninja -C "$build" >/dev/null
exec python3 bench/startup_bench.py "$build/examples/soci-index/soci-index" "$build/examples/soci-mount/soci-mount" \
  "${1:-3}"
