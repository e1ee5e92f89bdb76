#!/usr/bin/env bash
# Runs ferry-bench across two "machines" on one box: two network namespaces joined by a
# veth pair, the server (`ferry-bench --serve`) in one and the benchmark
# (`ferry-bench --connect`) in the other, so traffic crosses a real (virtual) link with
# its own IP stack on each side. Needs root and iproute2.
#
#   bench/netns/cross_machine.sh <ferry-bench binary> [ferry-bench flags for the client...]
#
# Exit status: 0 on success, 77 when the machine does not allow network namespaces (the
# reason is printed), anything else on failure. Everything it creates is removed on exit.
set -euo pipefail

bench=${1:?usage: cross_machine.sh <ferry-bench> [client flags...]}
shift
bench=$(readlink -f "$bench")

if [ "$(id -u)" -ne 0 ]; then
  echo "cross_machine: needs root to create network namespaces (running as uid $(id -u))" >&2
  exit 77
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "cross_machine: iproute2's ip command is missing" >&2
  exit 77
fi

tag="ferry$$"
srv="${tag}s"
cli="${tag}c"
# A private /30 per run so parallel runs do not collide.
octet=$(( ($$ % 250) + 1 ))
srv_ip="10.213.${octet}.1"
cli_ip="10.213.${octet}.2"
port=7000
workdir=$(mktemp -d /tmp/ferry-netns.XXXXXX)
server_pid=""

cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT

if ! ip netns add "$srv" 2>"$workdir/err"; then
  echo "cross_machine: cannot create a network namespace here: $(cat "$workdir/err")" >&2
  exit 77
fi
ip netns add "$cli"
ip link add "${tag}a" type veth peer name "${tag}b"
ip link set "${tag}a" netns "$srv"
ip link set "${tag}b" netns "$cli"
ip -n "$srv" addr add "$srv_ip/30" dev "${tag}a"
ip -n "$cli" addr add "$cli_ip/30" dev "${tag}b"
for ns in "$srv" "$cli"; do ip -n "$ns" link set lo up; done
ip -n "$srv" link set "${tag}a" up
ip -n "$cli" link set "${tag}b" up

echo "cross_machine: server namespace $srv ($srv_ip), client namespace $cli ($cli_ip)" >&2
ip netns exec "$srv" "$bench" --serve="tcp://$srv_ip:$port" >"$workdir/serve.out" 2>"$workdir/serve.err" &
server_pid=$!

# Wait for every implementation to report its address.
for _ in $(seq 200); do
  if [ "$(grep -c '^serving ' "$workdir/serve.out" 2>/dev/null || true)" -ge 3 ]; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.05
done
if [ "$(grep -c '^serving ' "$workdir/serve.out" 2>/dev/null || true)" -lt 3 ]; then
  echo "cross_machine: the server did not start; it printed:" >&2
  cat "$workdir/serve.out" "$workdir/serve.err" >&2
  exit 1
fi
sed 's/^/cross_machine: /' "$workdir/serve.out" >&2

ip netns exec "$cli" "$bench" --connect="tcp://$srv_ip:$port" "$@"
