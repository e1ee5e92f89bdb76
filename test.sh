#!/usr/bin/env bash
# Runs Ferry's whole test suite, as CI does: the plain build, then the same suite under
# ASan + UBSan and under TSan, then every libFuzzer target for a short fixed time. Installs
# the build's Debian packages on first use. See docs/quality-gates.md.
#
#   ./test.sh                      # everything: plain, asan, tsan, fuzz (CI)
#   ./test.sh plain                # one stage; several may be named: ./test.sh plain fuzz
#   ./test.sh //runtime/...        # the plain stage on some targets
#   ./test.sh asan //transports/...  # a stage on some targets (not for fuzz)
#
# Environment:
#   FERRY_FUZZ_SECONDS   time per fuzzer in the fuzz stage (default 20)
#   FERRY_FINDINGS_DIR   where fuzz crashes are saved (default ./fuzz-findings)
#   BAZEL                the bazel command (default bazel)
#
# Every stage runs even if an earlier one failed (so one run shows every broken gate); the
# exit status is non-zero if any failed. The stages share one Bazel output base: the
# sanitizer and fuzz configs build into their own output directories (--platform_suffix),
# and the fuzz config compiles with a second, clang-14 toolchain (third_party/clang), so
# switching stages never rebuilds the others.
set -uo pipefail
cd "$(dirname "$0")"
./tools/setup.sh || exit 1

# An array, so BAZEL="bazel --output_base=/x" works.
read -r -a BAZEL_CMD <<<"${BAZEL:-bazel}"
FUZZ_SECONDS=${FERRY_FUZZ_SECONDS:-20}
FINDINGS=${FERRY_FINDINGS_DIR:-$PWD/fuzz-findings}

stages=()
targets=()
for arg in "$@"; do
  case "$arg" in
    plain | asan | tsan | fuzz) stages+=("$arg") ;;
    *) targets+=("$arg") ;;
  esac
done
if [ ${#stages[@]} -eq 0 ]; then
  if [ ${#targets[@]} -gt 0 ]; then stages=(plain); else stages=(plain asan tsan fuzz); fi
fi
if [ ${#targets[@]} -eq 0 ]; then targets=(//...); fi

bazel_test() {  # config-flags... -- targets...
  local flags=()
  while [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  "${BAZEL_CMD[@]}" test --keep_going "${flags[@]}" "$@"
}

run_fuzzers() {
  local query fuzzers=() bin failed=0
  # Every ferry_fuzz_test (fuzz/fuzz.bzl) is tagged ferry_fuzz, wherever it lives.
  query=$("${BAZEL_CMD[@]}" query 'attr(tags, "\bferry_fuzz\b", tests(//...))' 2>/dev/null) || {
    echo "fuzz: bazel query for the fuzz targets failed" >&2
    return 1
  }
  read -r -d '' -a fuzzers <<<"$query"
  if [ ${#fuzzers[@]} -eq 0 ]; then
    echo "fuzz: no ferry_fuzz_test targets found" >&2
    return 1
  fi
  "${BAZEL_CMD[@]}" build --keep_going --config=fuzz "${fuzzers[@]}" || return 1
  bin=$("${BAZEL_CMD[@]}" info --config=fuzz bazel-bin 2>/dev/null) || return 1
  mkdir -p "$FINDINGS"
  local t pkg name exe seeds work artifacts log rc
  for t in "${fuzzers[@]}"; do
    pkg=${t#//}
    pkg=${pkg%%:*}
    name=${t##*:}
    exe=$bin/$pkg/$name
    seeds=$PWD/$pkg/corpus/$name
    work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-fuzz-$name.XXXXXX")
    artifacts=$FINDINGS/$name
    mkdir -p "$artifacts"
    log=$work/fuzz.log
    mkdir -p "$work/new"
    # New inputs go to the scratch directory (first corpus argument), never into the
    # checked-in seeds. -timeout: an input that runs over 10 s is a hang, reported as such.
    (cd "$work" && ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:allocator_may_return_null=1 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      "$exe" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2560 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 "$work/new" "$seeds" \
      >"$log" 2>&1 </dev/null)
    rc=$?
    if [ $rc -eq 0 ]; then
      echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs" \
        "in ${FUZZ_SECONDS}s, no finding"
      rm -rf "$work"
    else
      failed=1
      echo "fuzz: $t FAILED (exit $rc). Last lines of its log ($log):" >&2
      grep -v '^#[0-9]' "$log" | tail -n 40 >&2
      local found
      found=$(grep -oE "Test unit written to [^ ]+" "$log" | sed 's/Test unit written to //')
      if [ -n "$found" ]; then
        echo "fuzz: reproducer: $found" >&2
        echo "fuzz: rerun it:   $exe $found" >&2
        echo "fuzz:   or, without libFuzzer:  ${BAZEL_CMD[*]} run //$pkg:$name -- $found" >&2
        echo "fuzz:   keep it as a regression seed: cp $found $seeds/" >&2
      fi
    fi
  done
  return $failed
}

declare -A result seconds
overall=0
for stage in "${stages[@]}"; do
  echo "==== test.sh: stage $stage ====" >&2
  start=$SECONDS
  case "$stage" in
    plain) bazel_test -- "${targets[@]}" ;;
    asan) bazel_test --config=asan -- "${targets[@]}" ;;
    tsan) bazel_test --config=tsan -- "${targets[@]}" ;;
    fuzz) run_fuzzers ;;
  esac
  rc=$?
  seconds[$stage]=$((SECONDS - start))
  if [ $rc -eq 0 ]; then result[$stage]=passed; else result[$stage]=FAILED; overall=1; fi
done

echo "==== test.sh: summary ====" >&2
for stage in "${stages[@]}"; do
  printf '  %-6s %-7s %4ds\n' "$stage" "${result[$stage]}" "${seconds[$stage]}" >&2
done
exit $overall
