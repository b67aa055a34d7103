#!/usr/bin/env bash
# Everything CI checks, runnable by hand: dependencies, a gcc build with warnings as
# errors and its tests, a gcc release build (warnings only the optimiser finds), the
# packaging checks, then a clang build under AddressSanitizer + UBSan running the
# same tests, then the tests of the code that starts threads under ThreadSanitizer, then
# every libFuzzer harness for FUZZ_SECONDS (ci/fuzz.sh). Build folders go under build-ci/
# (override with BUILD_ROOT).
set -euo pipefail
cd "$(dirname "$0")/.."
./ci/deps.sh

root=${BUILD_ROOT:-build-ci}
jobs=$(nproc)

# Configure a build folder, or reconfigure it if it exists: setup_build DIR CC OPTIONS...
setup_build() {
  local dir=$1 cc=$2
  shift 2
  if [ -d "$dir/meson-private" ]; then
    CC=$cc meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    CC=$cc meson setup "$dir" "$@" >/dev/null
  fi
}

echo "== gcc, -Werror"
setup_build "$root/gcc" gcc -Dwerror=true -Dmount=enabled
ninja -C "$root/gcc"
meson test -C "$root/gcc" --print-errorlogs --num-processes "$jobs"

echo "== gcc, release build (-O3, fortified), -Werror: built, not tested"
# -Wmaybe-uninitialized and the fortify checks look only at optimised code: the build
# above passed while "meson setup --buildtype=release -Dwerror=true" failed on six.
setup_build "$root/gcc-release" gcc -Dbuildtype=release -Dwerror=true -Dmount=enabled -Dbench=false \
  -Dc_args="-D_FORTIFY_SOURCE=2 -fstack-protector-strong -Wformat -Werror=format-security"
ninja -C "$root/gcc-release"

echo "== consumers outside the tree: install, pkg-config (shared and static), Python, meson dist"
./ci/package.sh "$root/gcc"

echo "== clang, -Werror, AddressSanitizer + UBSan"
setup_build "$root/asan" clang -Dwerror=true -Dmount=enabled -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false
ninja -C "$root/asan"
meson test -C "$root/asan" --print-errorlogs --num-processes "$jobs"

echo "== clang, ThreadSanitizer: builds on two threads, caches and layers read from many, read-ahead"
tsan_tests=(build_vectors build_checks layer cache zstd blob)
setup_build "$root/tsan" clang -Dwerror=true -Db_sanitize=thread -Db_lundef=false -Dbench=false -Dexamples=false
ninja -C "$root/tsan" $(printf 'tests/test_%s ' "${tsan_tests[@]}")
TSAN_OPTIONS=halt_on_error=1 meson test -C "$root/tsan" --no-rebuild --print-errorlogs --num-processes "$jobs" \
  "${tsan_tests[@]}"

echo "== fuzzing (clang, libFuzzer + ASan + UBSan)"
fuzz_status=0
BUILD_ROOT=$root ./ci/fuzz.sh || fuzz_status=$?

# One closing line for all builds, in the plain form CI reads.
python3 - "$root/gcc" "$root/asan" "$root/tsan" <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for build in sys.argv[1:]:
    for line in open(build + "/meson-logs/testlog.json"):
        result = json.loads(line)["result"]
        key = {"OK": "passed", "SKIP": "skipped", "EXPECTEDFAIL": "passed"}.get(result, "failed")
        counts[key] += 1
print("tests: {passed} passed, {failed} failed, {skipped} skipped".format(**counts))
PY
if [ "$fuzz_status" != 0 ]; then
  echo "fuzzing found a failure (see above)"
  exit 1
fi
