#!/usr/bin/env bash
# Builds rinit's shipped binaries: static musl executables for x86_64 and arm64.
#   bash dist/build.sh   ->   dist/rinit-x86_64, dist/rinit-aarch64, dist/SHA256SUMS
# Needs the Rust toolchain (rustup) and, for the architecture that is not the machine's own, a
# cross linker: Debian's gcc-aarch64-linux-gnu on x86_64, gcc-x86-64-linux-gnu on arm64.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(uname -m)
if command -v rustup >/dev/null; then
  rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null
fi

for arch in x86_64 aarch64; do
  triple=$arch-unknown-linux-musl
  if [ "$arch" != "$host" ]; then
    linker=$arch-linux-gnu-gcc
    command -v "$linker" >/dev/null || {
      echo "dist: $linker is missing: apt-get install gcc-${arch//_/-}-linux-gnu" >&2
      exit 1
    }
    var=CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER
    export "$var=${!var:-$linker}"
  fi
  cargo build --release --locked --target "$triple"
  cp "target/$triple/release/rinit" "dist/rinit-$arch"
done

(cd dist && sha256sum rinit-x86_64 rinit-aarch64 > SHA256SUMS)
ls -l dist/rinit-x86_64 dist/rinit-aarch64
cat dist/SHA256SUMS
