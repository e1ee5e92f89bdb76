#!/usr/bin/env bash
# Ferry's main job: the transport comparison. Installs the build's Debian packages on
# first use, builds optimised, then runs the same generated remote call over every
# transport beside the raw mechanism (no RPC layer) and gRPC, prints one table per mode
# and writes JSON, CSV and a self-contained HTML report (its path is printed last).
#
# The default is short (under 2 minutes on 2 cores). Any ferry-bench flag overrides it,
# e.g. a longer, pinned run:
#   ./run.sh --iterations=20000 --duration=2 --pin
# or only some transports and sizes:
#   ./run.sh --transports=uds,tcp --sizes=64,4k
set -euo pipefail
cd "$(dirname "$0")"
./tools/setup.sh
bazel build -c opt //bench:ferry-bench >&2
exec bazel-bin/bench/ferry-bench \
  --iterations=3000 --duration=0.2 --concurrency=1,4,16 --variants=backing=memfd \
  --out_dir="bench-results/$(date -u +%Y%m%d-%H%M%S)" "$@"
