#include "bench/options.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ferry::bench {

std::vector<std::string> SplitList(absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

absl::StatusOr<std::vector<uint64_t>> ParseSizeList(absl::string_view text, uint64_t max) {
  std::vector<uint64_t> sizes;
  for (const std::string& item : SplitList(text)) {
    const std::string lower = absl::AsciiStrToLower(item);
    absl::string_view s = lower;
    if (!absl::ConsumeSuffix(&s, "ib")) absl::ConsumeSuffix(&s, "b");
    uint64_t unit = 1;
    if (!s.empty()) {
      switch (s.back()) {
        case 'k':
          unit = uint64_t{1} << 10;
          break;
        case 'm':
          unit = uint64_t{1} << 20;
          break;
        case 'g':
          unit = uint64_t{1} << 30;
          break;
      }
      if (unit != 1) s.remove_suffix(1);
    }
    uint64_t n = 0;
    if (s.empty() || !absl::SimpleAtoi(s, &n) || n > max / unit) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad size \"", item, "\": expected a byte count such as 64, 4k or 1m, at most ", max));
    }
    sizes.push_back(n * unit);
  }
  if (sizes.empty()) return absl::InvalidArgumentError("no size given");
  return sizes;
}

absl::StatusOr<std::vector<int>> ParseIntList(absl::string_view text, int max) {
  std::vector<int> out;
  for (const std::string& item : SplitList(text)) {
    int n = 0;
    if (!absl::SimpleAtoi(item, &n) || n < 1 || n > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad number \"", item, "\": expected 1 to ", max));
    }
    out.push_back(n);
  }
  if (out.empty()) return absl::InvalidArgumentError("empty list");
  return out;
}

}  // namespace ferry::bench
