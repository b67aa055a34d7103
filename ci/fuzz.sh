#!/usr/bin/env bash
# Build the libFuzzer harnesses (clang, ASan + UBSan, coverage on the whole library) and
# run each for FUZZ_SECONDS (default 40), FUZZ_JOBS at a time (default: the cores). A
# crash, leak, timeout or out-of-memory fails the run and leaves the input under
# $root/fuzz-artifacts/; minimise it (fuzz_X -minimize_crash=1 INPUT) and commit it under
# tests/data/crashers/fuzz_X/ so the test suite replays it from then on. The committed
# seeds are copied, so new corpus entries never touch the tree. Prints executions and
# coverage (edges) per harness.
set -euo pipefail
cd "$(dirname "$0")/.."

root=${BUILD_ROOT:-build-ci}
seconds=${FUZZ_SECONDS:-40}
jobs=${FUZZ_JOBS:-$(nproc)}
build=$root/fuzz
if [ -d "$build/meson-private" ]; then
  CC=clang meson setup --reconfigure "$build" >/dev/null
else
  CC=clang meson setup "$build" -Dfuzz=enabled -Db_sanitize=address,undefined -Db_lundef=false \
    -Dtests=false -Dexamples=false -Dbench=false -Dpython=disabled -Dwerror=true >/dev/null
fi
ninja -C "$build" >/dev/null

# -Dfuzz=enabled with nothing else must build too (a contributor's first try): the shared
# library, a harness and its replay program link.
plain=$root/fuzz-plain
[ -d "$plain/meson-private" ] || CC=clang meson setup "$plain" -Dfuzz=enabled -Dwerror=true \
  -Dexamples=false -Dbench=false -Dpython=disabled >/dev/null
meson compile -C "$plain" soci:shared_library fuzz_ztoc replay_ztoc >/dev/null
"$plain/fuzz/replay_ztoc" fuzz/corpus/fuzz_ztoc >/dev/null

work=$root/fuzz-run
artifacts=$root/fuzz-artifacts
rm -rf "$work" "$artifacts"
mkdir -p "$work" "$artifacts"

run_one() {
  local h=$1 dir=$work/$1
  mkdir -p "$dir/corpus"
  cp fuzz/corpus/"$h"/* "$dir/corpus/" 2>/dev/null || true
  local dict=()
  [ -f "fuzz/dict/$h.dict" ] && dict=(-dict="fuzz/dict/$h.dict")
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/fuzz/$h" "$dir/corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -max_len=262144 -print_final_stats=1 -artifact_prefix="$artifacts/$h-" >"$dir/log" 2>&1; then
    echo ok >"$dir/status"
  else
    echo FAILED >"$dir/status"
  fi
}
export -f run_one
export build work artifacts seconds

harnesses=$(find "$build/fuzz" -maxdepth 1 -type f -executable -name 'fuzz_*' -printf '%f\n' | sort)
echo "== fuzzing: $(echo "$harnesses" | wc -w) harnesses, ${seconds} s each, $jobs at a time"
echo "$harnesses" | xargs -P "$jobs" -I{} bash -c 'run_one {}'

failed=0
printf '%-24s %12s %10s %8s  %s\n' harness executions "exec/s" edges status
for h in $harnesses; do
  log=$work/$h/log
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
  status=$(cat "$work/$h/status")
  printf '%-24s %12s %10s %8s  %s\n' "$h" "$execs" "$rate" "$edges" "$status"
  if [ "$status" != ok ]; then
    failed=1
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    /'
  fi
done
exit $failed
