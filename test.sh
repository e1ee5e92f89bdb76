#!/usr/bin/env bash
# Runs Ferry's whole test suite. Installs the build's Debian packages on first use.
#   ./test.sh                 # everything
#   ./test.sh //runtime/...   # a part
set -euo pipefail
cd "$(dirname "$0")"
./tools/setup.sh
if [ $# -eq 0 ]; then set -- //...; fi
exec bazel test "$@"
