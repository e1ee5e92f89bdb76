#!/usr/bin/env bash
# Compares protoc-gen-ferry's output for codegen/testdata/*.proto with the checked-in
# goldens in codegen/testdata/golden/ (each generated file F as F.golden).
#
# Usage: golden_test.sh GOLDEN_DIR GENERATED_FILE...
set -euo pipefail

golden_dir="$1"
shift

failed=0
declare -A expected=()
for generated in "$@"; do
  name="$(basename "$generated")"
  golden="$golden_dir/$name.golden"
  expected["$name.golden"]=1
  if [[ ! -f "$golden" ]]; then
    echo "MISSING GOLDEN: $generated was generated but $golden does not exist"
    failed=1
  elif ! diff -u --label "$golden (checked in)" --label "$name (generated now)" \
      "$golden" "$generated"; then
    echo "MISMATCH: the generated $name differs from $golden (diff above: - golden, + now)"
    failed=1
  fi
done

for golden in "$golden_dir"/*.golden; do
  [[ -e "$golden" ]] || continue
  if [[ -z "${expected[$(basename "$golden")]:-}" ]]; then
    echo "STALE GOLDEN: $golden matches no generated file"
    failed=1
  fi
done

if (( failed )); then
  echo
  echo "If the generator change is intended, run codegen/update_goldens.sh and commit"
  echo "codegen/testdata/golden/."
  exit 1
fi
echo "$# generated files match their goldens"
