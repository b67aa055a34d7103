#!/usr/bin/env bash
# Make a benchmark layer from the machine's own files: a tar of /usr (sorted, so the same
# machine gives the same layer), cut off after about MIB mebibytes of files, gzip -6.
# usage: bench/make_layer.sh OUT.tar.gz [MIB]
set -euo pipefail
out=$1
mib=${2:-300}
list=$(mktemp)
trap 'rm -f "$list"' EXIT
find /usr -xdev -type f -size -20M -printf '%s %p\n' 2>/dev/null | sort -k2 |
  awk -v max=$((mib * 1024 * 1024)) '{ total += $1; if (total <= max) print $2 }' > "$list"
tar --format=posix --sort=name -cf - --files-from="$list" 2>/dev/null | gzip -6 > "$out"
