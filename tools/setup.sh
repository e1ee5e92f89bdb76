#!/usr/bin/env bash
# Installs the Debian packages Ferry's build needs, only when some are missing.
# Idempotent: a second run checks and returns in well under a second.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap
  g++
  pkg-config
  libprotobuf-dev
  protobuf-compiler
  libprotoc-dev
  libgrpc++-dev
  protobuf-compiler-grpc
  libabsl-dev
  libgtest-dev
  libbenchmark-dev
  # The HTML report's screenshot test (bench/report): a headless browser, a font to draw
  # with, and zlib to decode the screenshot.
  chromium
  fonts-dejavu-core
  zlib1g-dev
  # Quality gates (docs/quality-gates.md): gcc's sanitizer runtimes for --config=asan/tsan,
  # and clang-14 with its runtimes (libFuzzer, ASan, UBSan) and linker for --config=fuzz.
  libasan8
  libubsan1
  libtsan2
  clang-14
  libclang-rt-14-dev
  lld-14
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "ferry setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
