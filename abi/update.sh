#!/usr/bin/env bash
# Regenerate abi/libsoci.abi from a build's libsoci.so.1 (default build-ci/gcc), after an
# intended ABI change: commit it with that change. New functions go in a new version node
# of lib/libsoci.sym (docs/abi.md); list a node in abi/released-nodes when it ships.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-ci/gcc}
abidw --headers-dir include/soci --headers-dir "$build/include/soci" "$build/lib/libsoci.so.1" \
  --out-file abi/libsoci.abi
echo "abi/libsoci.abi: $(grep -c '<elf-symbol name=' abi/libsoci.abi) symbols"
