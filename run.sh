#!/usr/bin/env bash
# Ferry's main job. Installs the build's Debian packages on first use, builds optimised,
# then serves the example key-value service over a Unix socket and TCP at once and calls
# it over each, printing every call's result and round-trip time.
set -euo pipefail
cd "$(dirname "$0")"
./tools/setup.sh
bazel build -c opt //examples/kv:kv_server //examples/kv:kv_client >&2
bin=bazel-bin/examples/kv

dir=$(mktemp -d /tmp/ferry-run.XXXXXX)
out="$dir/server.out"
"$bin/kv_server" --address="unix:$dir/kv.sock,tcp://127.0.0.1:0" >"$out" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

for _ in $(seq 100); do
  [ "$(grep -c '^listening on ' "$out" || true)" -ge 2 ] && break
  sleep 0.05
done
mapfile -t addresses < <(sed -n 's/^listening on //p' "$out")
if [ "${#addresses[@]}" -lt 2 ]; then
  echo "kv_server did not start; it printed:" >&2
  cat "$out" >&2
  exit 1
fi
for address in "${addresses[@]}"; do
  echo "== KeyValue over $address"
  "$bin/kv_client" --address="$address" demo
  echo
done
