#!/usr/bin/env bash
# End-to-end test of the key-value example: one kv_server on a Unix socket and on TCP at
# once, kv_client against both, then a graceful SIGTERM shutdown.
#   kv_e2e_test.sh path/to/kv_server path/to/kv_client
set -euo pipefail

server_bin=$1
client_bin=$2

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Unix socket paths are limited to 107 bytes; $TEST_TMPDIR inside Bazel's sandbox is
# longer than that, so the socket goes in a short directory of its own under /tmp.
dir=$(mktemp -d /tmp/kv.XXXXXX)
sock="$dir/kv.sock"
server_pid=""

cleanup() {
  if [[ -n $server_pid ]]; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

# kill -0 succeeds on a zombie, so an exited but not yet reaped child is checked by state.
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# run ADDRESS ARGS...: runs kv_client, leaving its stdout in $out, stderr in $err and
# exit code in $rc.
run() {
  local address=$1
  shift
  set +e
  out=$("$client_bin" --address="$address" --timeout=5s "$@" 2>"$dir/client.err")
  rc=$?
  set -e
  err=$(cat "$dir/client.err")
}

# expect_ok WANT_STDOUT ADDRESS ARGS...
expect_ok() {
  local want=$1
  shift
  run "$@"
  [[ $rc -eq 0 ]] || fail "kv_client --address=$1 ${*:2}: exit code $rc, want 0; stderr: $err"
  [[ $out == "$want" ]] ||
    fail "kv_client --address=$1 ${*:2}: stdout $(printf %q "$out"), want $(printf %q "$want")"
}

# expect_error WANT_EXIT WANT_STDERR ADDRESS ARGS...
expect_error() {
  local want_rc=$1 want_err=$2
  shift 2
  run "$@"
  [[ $rc -eq $want_rc ]] ||
    fail "kv_client --address=$1 ${*:2}: exit code $rc, want $want_rc; stderr: $err"
  [[ $err == "$want_err" ]] ||
    fail "kv_client --address=$1 ${*:2}: stderr $(printf %q "$err"), want $(printf %q "$want_err")"
}

# --- start ---------------------------------------------------------------------------
"$server_bin" --address="unix:$sock,tcp://127.0.0.1:0" >"$dir/server.out" 2>"$dir/server.err" &
server_pid=$!

listening_lines() { grep -c '^listening on ' "$dir/server.out" 2>/dev/null || true; }
for _ in $(seq 100); do
  [[ $(listening_lines) -ge 2 ]] && break
  alive "$server_pid" || fail "kv_server exited before listening; stderr: $(cat "$dir/server.err")"
  sleep 0.1
done
[[ $(listening_lines) -eq 2 ]] ||
  fail "kv_server did not print two 'listening on' lines in 10s; stdout: $(cat "$dir/server.out")"

uds=$(sed -n '1s/^listening on //p' "$dir/server.out")
tcp=$(sed -n '2s/^listening on //p' "$dir/server.out")
[[ $uds == "unix:$sock" ]] || fail "first bound address is '$uds', want 'unix:$sock'"
[[ $tcp =~ ^tcp://127\.0\.0\.1:[0-9]+$ && $tcp != "tcp://127.0.0.1:0" ]] ||
  fail "second bound address is '$tcp', want tcp://127.0.0.1:<resolved port>"
[[ -S $sock ]] || fail "no socket file at $sock while serving"

# A second server cannot take over a live server's socket, and must not remove it.
set +e
"$server_bin" --address="unix:$sock" >"$dir/second.out" 2>"$dir/second.err"
second_rc=$?
set -e
[[ $second_rc -eq 1 ]] || fail "second kv_server on $sock: exit code $second_rc, want 1"
grep -q '^error: ALREADY_EXISTS: ' "$dir/second.err" ||
  fail "second kv_server on $sock: stderr $(cat "$dir/second.err"), want 'error: ALREADY_EXISTS: ...'"
[[ -S $sock ]] || fail "a failed second kv_server removed the live server's socket $sock"

# --- both transports see one store ---------------------------------------------------
expect_ok created "$uds" put greeting hello
expect_ok hello "$tcp" get greeting
expect_ok replaced "$tcp" put greeting "hello again"
expect_ok "hello again" "$uds" get greeting

# --- errors --------------------------------------------------------------------------
expect_error 5 'error: NOT_FOUND: key "missing" not found' "$tcp" get missing
expect_error 5 'error: NOT_FOUND: key "missing" not found' "$uds" delete missing
expect_error 3 'error: INVALID_ARGUMENT: key must not be empty' "$uds" put "" value
expect_error 3 'error: INVALID_ARGUMENT: key must not be empty' "$tcp" get ""

# A deadline that has already passed fails before anything is sent (the later --timeout
# wins over the one run() passes).
run "$uds" --timeout=0s get greeting
[[ $rc -eq 4 && $err == "error: DEADLINE_EXCEEDED: "?* ]] ||
  fail "get with --timeout=0s: exit code $rc, stderr '$err'; want 4 and DEADLINE_EXCEEDED"

# --- list by prefix, in key order ----------------------------------------------------
expect_ok created "$uds" put fruit/banana yellow
expect_ok created "$tcp" put fruit/apple red
expect_ok created "$uds" put fruity "not a fruit/"
expect_ok created "$tcp" put veg/leek green
expect_ok $'fruit/apple\tred\nfruit/banana\tyellow' "$tcp" list fruit/
expect_ok $'fruit/apple\tred\nfruit/banana\tyellow\nfruity\tnot a fruit/' "$uds" list fruit
expect_ok "" "$uds" list nothing-here
expect_ok $'fruit/apple\tred\nfruit/banana\tyellow\nfruity\tnot a fruit/\ngreeting\thello again\nveg/leek\tgreen' \
  "$tcp" list

# --- delete --------------------------------------------------------------------------
expect_ok deleted "$tcp" delete fruit/apple
expect_error 5 'error: NOT_FOUND: key "fruit/apple" not found' "$uds" get fruit/apple
expect_error 5 'error: NOT_FOUND: key "fruit/apple" not found' "$tcp" delete fruit/apple
expect_ok $'fruit/banana\tyellow' "$uds" list fruit/

# --- the demo, over both ---------------------------------------------------------------
for address in "$uds" "$tcp"; do
  run "$address" demo
  [[ $rc -eq 0 ]] || fail "kv_client demo over $address: exit code $rc; stderr: $err; stdout: $out"
  grep -q '^Get(demo/fruit/cherry) -> NOT_FOUND: key "demo/fruit/cherry" not found (' <<<"$out" ||
    fail "kv_client demo over $address did not show the missing key's NOT_FOUND; stdout: $out"
  grep -q '^List(demo/fruit/) -> OK, 2 entries: demo/fruit/apple demo/fruit/banana (' <<<"$out" ||
    fail "kv_client demo over $address: unexpected List result; stdout: $out"
done
expect_ok "" "$uds" list demo/

# --- bad usage -----------------------------------------------------------------------
run "$uds" frobnicate
[[ $rc -eq 64 ]] || fail "kv_client frobnicate: exit code $rc, want 64 (usage)"
run "$uds" get
[[ $rc -eq 64 ]] || fail "kv_client get without a key: exit code $rc, want 64 (usage)"
run nosuchscheme:x get k
[[ $rc -eq 3 && $err == "error: INVALID_ARGUMENT: "?* ]] ||
  fail "kv_client with an unknown scheme: exit code $rc, stderr '$err'; want 3 and INVALID_ARGUMENT"

# --- graceful shutdown ---------------------------------------------------------------
kill -TERM "$server_pid"
for _ in $(seq 100); do
  alive "$server_pid" || break
  sleep 0.1
done
alive "$server_pid" && fail "kv_server still running 10s after SIGTERM"
set +e
wait "$server_pid"
server_rc=$?
set -e
server_pid=""
[[ $server_rc -eq 0 ]] ||
  fail "kv_server exit code $server_rc after SIGTERM, want 0; stderr: $(cat "$dir/server.err")"
[[ ! -e $sock ]] || fail "kv_server left its socket file $sock behind"

run "$uds" get greeting
[[ $rc -eq 14 && $err == "error: UNAVAILABLE: "* ]] ||
  fail "get after shutdown over UDS: exit code $rc, stderr '$err'; want 14 and UNAVAILABLE"
run "$tcp" get greeting
[[ $rc -eq 14 && $err == "error: UNAVAILABLE: "* ]] ||
  fail "get after shutdown over TCP: exit code $rc, stderr '$err'; want 14 and UNAVAILABLE"

# --- a server without an address refuses to start -------------------------------------
set +e
"$server_bin" >/dev/null 2>"$dir/noaddr.err"
noaddr_rc=$?
set -e
[[ $noaddr_rc -eq 1 ]] || fail "kv_server without --address: exit code $noaddr_rc, want 1"
[[ $(cat "$dir/noaddr.err") == "error: INVALID_ARGUMENT: --address is required" ]] ||
  fail "kv_server without --address: stderr $(cat "$dir/noaddr.err")"

echo "PASS"
