#!/usr/bin/env bash
# Builds the shm ring and its wake-up code alone with clang's ThreadSanitizer and runs a
# concurrent producer/consumer over it (ring_tsan_main.cc). The rest of Ferry cannot be
# built with TSan here: Debian's abseil is not instrumented, which is why the ring and
# shm_wait are kept free of absl.
#
# Skips (exit 0, saying why) when clang or its TSan runtime is missing.
set -euo pipefail

src="${TEST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/${TEST_WORKSPACE:-ferry}"
[ -f "$src/transports/shm/shm_ring.cc" ] || src="$(cd "$(dirname "$0")/../.." && pwd)"
out="${TEST_TMPDIR:-$(mktemp -d)}"

clang=""
for c in clang++ clang++-14 clang++-15 clang++-16; do
  if command -v "$c" >/dev/null 2>&1; then clang="$c"; break; fi
done
if [ -z "$clang" ]; then
  echo "SKIPPED: no clang++ on PATH, so no ThreadSanitizer build of the ring"
  exit 0
fi
# Probe: some installs have clang without the TSan runtime.
printf 'int main(){return 0;}\n' > "$out/probe.cc"
if ! "$clang" -fsanitize=thread "$out/probe.cc" -o "$out/probe" 2>"$out/probe.log" ||
   ! "$out/probe" >/dev/null 2>&1; then
  echo "SKIPPED: $clang cannot build or run a ThreadSanitizer program:"
  cat "$out/probe.log"
  exit 0
fi

"$clang" -std=c++17 -O1 -g -fsanitize=thread -Wall -Werror -I "$src" \
  "$src/transports/shm/ring_tsan_main.cc" \
  "$src/transports/shm/shm_ring.cc" \
  "$src/transports/shm/shm_wait.cc" \
  -o "$out/ring_tsan" -lpthread

echo "built with $("$clang" --version | head -1)"
TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" "$out/ring_tsan"
