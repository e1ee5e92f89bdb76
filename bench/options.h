// Parsing of ferry-bench's list flags.
#ifndef FERRY_BENCH_OPTIONS_H_
#define FERRY_BENCH_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry::bench {

// "64,4k,64k,1m" -> {64, 4096, 65536, 1048576}. Suffixes (any case, optional "b"/"ib"):
// k = 2^10, m = 2^20, g = 2^30. INVALID_ARGUMENT for an empty list, a malformed item or a
// size above `max`.
absl::StatusOr<std::vector<uint64_t>> ParseSizeList(absl::string_view text, uint64_t max);

// "1,2,4" -> {1, 2, 4}; every item in [1, max].
absl::StatusOr<std::vector<int>> ParseIntList(absl::string_view text, int max);

// "a, b,,c" -> {"a", "b", "c"}: split at commas, blanks trimmed, empty items dropped.
std::vector<std::string> SplitList(absl::string_view text);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_OPTIONS_H_
