#!/usr/bin/env bash
# Install what libsoci needs to build and test on Debian, once: packages already present
# are not touched and apt-get runs only when something is missing. Run as root.
set -euo pipefail

packages=(
  gcc clang meson ninja-build pkg-config binutils python3 python3-pip
  zlib1g-dev libzstd-dev zstd libssl-dev libjansson-dev libcmocka-dev libcurl4-openssl-dev
  pigz umoci skopeo docker-registry apache2-utils
  libfuse3-dev fuse3 libclang-rt-14-dev abigail-tools doxygen scdoc
  # fsck.erofs checks the EROFS images of soci-mount --kernel (tests/mount/test_kernel.py)
  erofs-utils
  # soci-indexer's HTTP listener (registry notifications, its status and metrics)
  libmicrohttpd-dev
  # ISA-L: gzip spans decode about twice as fast as with zlib (meson option isal, auto)
  libisal-dev
  # the real eStargz / zstd:chunked encoder (ctr-remote converts inside containerd)
  containerd stargz-snapshotter
  # the real engine soci-store serves (tests/store): podman with runc and its helpers
  podman runc conmon containernetworking-plugins
  # what `pkg-config --static --libs libsoci` names through libcurl (ci/package.sh links statically)
  libnghttp2-dev librtmp-dev libssh2-1-dev libpsl-dev libkrb5-dev libldap2-dev
)

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "ci/deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
