#!/usr/bin/env bash
# Runs bench/netns/cross_machine.sh with a short measurement and checks that the results
# came from the peer across the veth link: ferry, raw and grpc rows over tcp, and a setup
# that names the remote address. Where the machine does not allow network namespaces
# (not root, no iproute2, a sandbox without the capability), it says so and passes.
set -uo pipefail

script="$TEST_SRCDIR/$TEST_WORKSPACE/bench/netns/cross_machine.sh"
bench="$TEST_SRCDIR/$TEST_WORKSPACE/bench/ferry-bench"
out=$(mktemp -d /tmp/ferry-netns-test.XXXXXX)
trap 'rm -rf "$out"' EXIT

"$script" "$bench" --modes=latency,throughput --sizes=64,4k --iterations=300 \
  --duration=0.3 --concurrency=1,2 --json="$out/r.json" --csv="$out/r.csv" \
  --html="$out/r.html" >"$out/stdout" 2>"$out/stderr"
rc=$?
if [ $rc -eq 77 ]; then
  echo "SKIPPED: network namespaces are not available here:"
  cat "$out/stderr"
  exit 0
fi
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$out/stdout"; echo "--- stderr"; cat "$out/stderr"; exit 1; }
[ $rc -eq 0 ] || fail "cross_machine.sh exited $rc"
for f in r.json r.csv r.html; do [ -s "$out/$f" ] || fail "$f is missing or empty"; done
json=$(tr -d '\n' <"$out/r.json")
grep -q '"location": *"remote tcp://10\.213\.' <<<"$json" || fail "setup does not name the remote peer"
for impl in ferry raw grpc; do
  for mode in latency throughput; do
    grep -Eq "\"impl\": *\"$impl\", *\"transport\": *\"tcp\", *\"variant\": *\"[^\"]*\", *\"mode\": *\"$mode\"" <<<"$json" ||
      fail "no $impl $mode row over tcp"
  done
done
grep -q '"errors": *[1-9]' <<<"$json" && fail "some calls failed"
echo "PASS: ferry, raw and grpc measured across the veth link"
