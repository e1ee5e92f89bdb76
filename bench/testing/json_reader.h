// Test-only: a small strict JSON parser (RFC 8259) and a checker of ferry-bench's JSON
// schema (bench/README.md), shared by the output test and the end-to-end test.
#ifndef FERRY_BENCH_TESTING_JSON_READER_H_
#define FERRY_BENCH_TESTING_JSON_READER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry::bench::testing {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in document order

  // The member `key` of an object, or nullptr.
  const JsonValue* Find(absl::string_view key) const;
};

// The whole of `text` as one JSON value. INVALID_ARGUMENT (with the byte offset) for
// anything RFC 8259 does not allow: trailing commas, single quotes, bare control
// characters in strings, bad escapes or surrogates, leading zeros, NaN, trailing bytes.
// Duplicate object keys are rejected too (the schema has none).
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

// Checks a parsed ferry-bench report against schema_version 1. Returns one message per
// problem; empty means it conforms.
std::vector<std::string> CheckBenchSchema(const JsonValue& root);

}  // namespace ferry::bench::testing

#endif  // FERRY_BENCH_TESTING_JSON_READER_H_
