#!/usr/bin/env bash
# Runs protoc with protoc-gen-ferry on inputs it must refuse, and checks that protoc fails,
# that the error names file, service and method, and that nothing was written.
#
# Usage: plugin_errors_test.sh PROTOC PLUGIN
# The .proto files are read from codegen/testdata/rejected/ in the runfiles.
set -euo pipefail

protoc="$1"
plugin="$2"
failed=0

# run_protoc OUT_DIR FERRY_OUT_PREFIX PROTO: protoc's stderr goes to $OUT_DIR.err.
run_protoc() {
  local out="$1" prefix="$2" proto="$3"
  mkdir -p "$out"
  "$protoc" --proto_path=. --plugin=protoc-gen-ferry="$plugin" \
    --ferry_out="$prefix$out" "$proto" 2> "$out.err"
}

# expect_failure NAME OUT_DIR FERRY_OUT_PREFIX PROTO EXPECTED_LINE...
expect_failure() {
  local name="$1" out="$TEST_TMPDIR/$1" prefix="$2" proto="$3"
  shift 3
  if run_protoc "$out" "$prefix" "$proto"; then
    echo "FAIL $name: protoc succeeded on $proto"
    failed=1
    return
  fi
  for line in "$@"; do
    if ! grep -qF -- "$line" "$out.err"; then
      echo "FAIL $name: protoc's error lacks: $line"
      echo "--- protoc's stderr:"
      cat "$out.err"
      failed=1
    fi
  done
  if [[ -n "$(ls -A "$out")" ]]; then
    echo "FAIL $name: files were written despite the error:"
    ls -A "$out"
    failed=1
  fi
}

streaming=codegen/testdata/rejected/streaming.proto
why="streaming methods are not supported yet by protoc-gen-ferry (wire format supports them)"
expect_failure streaming "" "$streaming" \
  "$streaming: service ferry.test.streaming.Watcher method Upload: $why; this method is client-streaming" \
  "$streaming: service ferry.test.streaming.Watcher method Watch: $why; this method is server-streaming" \
  "$streaming: service ferry.test.streaming.Watcher method Chat: $why; this method is bidi-streaming"
# The unary method of the same service is not an error, so it must not be named.
if grep -q "method Get" "$TEST_TMPDIR/streaming.err"; then
  echo "FAIL streaming: the unary method Get was reported"
  failed=1
fi

duplicate=codegen/testdata/rejected/duplicate_classes.proto
expect_failure duplicate "" "$duplicate" \
  "$duplicate: service ferry.test.duplicate.Foo_Bar_: its C++ class name Foo_Bar__ is taken by another service"

# A generator parameter is most likely a typo for something that does not exist yet.
expect_failure parameter "mock=1:" codegen/testdata/no_package.proto \
  'protoc-gen-ferry takes no options, got "mock=1"'

# The checks above must be able to pass: the same protoc and plugin succeed on a good file.
good="$TEST_TMPDIR/good"
if ! run_protoc "$good" "" codegen/testdata/no_package.proto || \
   [[ ! -s "$good/codegen/testdata/no_package.ferry.h" ]]; then
  echo "FAIL good: protoc with the plugin failed on a valid file:"
  cat "$good.err"
  failed=1
fi

if (( failed )); then exit 1; fi
echo "all rejections as expected"
