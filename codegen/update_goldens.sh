#!/usr/bin/env bash
# Regenerates codegen/testdata/golden/*.golden with the current protoc-gen-ferry, for
# golden_test to compare against. Review the diff (git diff codegen/testdata/golden)
# before committing it.
set -euo pipefail

cd "$(dirname "$0")/.."
bazel build //codegen/testdata:generated_ferry_files
bin="$(bazel info bazel-bin)/codegen/testdata"
golden_dir=codegen/testdata/golden

mkdir -p "$golden_dir"
rm -f "$golden_dir"/*.golden
# Every top-level test proto has a ferry_cc_library in codegen/testdata/BUILD.
for proto in codegen/testdata/*.proto; do
  stem="$(basename "$proto" .proto)"
  for ext in ferry.h ferry.cc; do
    cp "$bin/$stem.$ext" "$golden_dir/$stem.$ext.golden"
    chmod 644 "$golden_dir/$stem.$ext.golden"
  done
done
echo "updated $(ls "$golden_dir"/*.golden | wc -l) goldens in $golden_dir"
