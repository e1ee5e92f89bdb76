#include "bench/report/format.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ferry::bench::report {
namespace {

// Inserts ',' every three digits into the integer part of a formatted number.
std::string GroupThousands(std::string s) {
  size_t start = (!s.empty() && s[0] == '-') ? 1 : 0;
  size_t end = s.find('.');
  if (end == std::string::npos) end = s.size();
  for (size_t i = end; i > start + 3; i -= 3) s.insert(i - 3, ",");
  return s;
}

// Drops trailing zeros of a fixed-point number ("2.50" -> "2.5", "3.00" -> "3").
std::string TrimZeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string FormatBytes(uint64_t bytes) {
  constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  if (bytes >= kGiB && bytes % kGiB == 0) return absl::StrFormat("%d GiB", bytes / kGiB);
  if (bytes >= kMiB && bytes % kMiB == 0) return absl::StrFormat("%d MiB", bytes / kMiB);
  if (bytes >= kKiB && bytes % kKiB == 0) return absl::StrFormat("%d KiB", bytes / kKiB);
  return absl::StrFormat("%s B", FormatCount(bytes));
}

std::string FormatUs(double us) {
  if (!std::isfinite(us)) return "?";
  double a = std::fabs(us);
  if (a == 0) return "0";
  if (a < 1) return absl::StrFormat("%.3f", us);
  if (a < 10) return absl::StrFormat("%.2f", us);
  if (a < 100) return absl::StrFormat("%.1f", us);
  return GroupThousands(absl::StrFormat("%.0f", us));
}

std::string FormatRate(double v) {
  if (!std::isfinite(v)) return "?";
  const char* suffix = "";
  double a = std::fabs(v);
  if (a >= 1e9) { v /= 1e9; suffix = "G"; }
  else if (a >= 1e6) { v /= 1e6; suffix = "M"; }
  else if (a >= 1e3) { v /= 1e3; suffix = "k"; }
  a = std::fabs(v);
  int decimals = a < 10 ? 2 : a < 100 ? 1 : 0;
  if (*suffix == '\0' && a >= 10) decimals = 0;
  return absl::StrCat(absl::StrFormat("%.*f", decimals, v), suffix);
}

std::string FormatMBps(double v) {
  if (!std::isfinite(v)) return "?";
  double a = std::fabs(v);
  if (a < 10) return absl::StrFormat("%.2f", v);
  if (a < 100) return absl::StrFormat("%.1f", v);
  return GroupThousands(absl::StrFormat("%.0f", v));
}

std::string FormatRatio(double r) {
  if (!std::isfinite(r)) return "?";
  double a = std::fabs(r);
  int decimals = a < 10 ? 2 : a < 100 ? 1 : 0;
  return absl::StrCat(GroupThousands(absl::StrFormat("%.*f", decimals, r)), "×");
}

std::string FormatCount(uint64_t n) { return GroupThousands(absl::StrFormat("%d", n)); }

std::string FormatTick(double v) {
  double a = std::fabs(v);
  if (a >= 1e4) {
    if (a >= 1e9) return TrimZeros(absl::StrFormat("%.2f", v / 1e9)) + "G";
    if (a >= 1e6) return TrimZeros(absl::StrFormat("%.2f", v / 1e6)) + "M";
    return TrimZeros(absl::StrFormat("%.2f", v / 1e3)) + "k";
  }
  if (a >= 1 && std::fabs(v - std::round(v)) < 1e-9) {
    return GroupThousands(absl::StrFormat("%.0f", v));
  }
  return TrimZeros(absl::StrFormat("%.4g", v));
}

}  // namespace ferry::bench::report
