#!/bin/sh
# Runs UdpNetem.* from udp_fault_test inside a private network namespace whose loopback
# drops, duplicates and reorders packets (tc netem). Skips, saying why, where that is not
# possible (not root, no unshare/ip/tc, or no sch_netem in the kernel).
set -u
PATH="$PATH:/usr/sbin:/sbin"
bin="$1"
why=""
if ! command -v unshare >/dev/null || ! command -v tc >/dev/null || ! command -v ip >/dev/null; then
  why="unshare, ip or tc missing"
elif ! out=$(unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root netem loss 10%' 2>&1); then
  why="cannot add a netem qdisc in a private network namespace: $out"
fi
if [ -n "$why" ]; then
  echo "SKIPPED: $why"
  exit 0
fi
exec unshare -n sh -c "ip link set lo up &&
  tc qdisc add dev lo root netem delay 1ms loss 10% duplicate 5% reorder 10% &&
  FERRY_NETEM_ACTIVE=1 '$bin' --gtest_filter='UdpNetem.*'"
