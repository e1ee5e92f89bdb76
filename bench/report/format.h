// Text for the HTML report: escaping and the number formats every section shares.
//
// Internal to //bench:report_html. All functions are pure and thread-safe. Formatting is
// locale-independent (absl::StrFormat), so a report reads the same on every machine.
#ifndef FERRY_BENCH_REPORT_FORMAT_H_
#define FERRY_BENCH_REPORT_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ferry::bench::report {

// Escapes &, <, >, " and ' so the result is safe both as element text and inside a quoted
// attribute value (HTML and inline SVG alike).
std::string HtmlEscape(absl::string_view text);

// Payload sizes: "64 B", "4 KiB", "1 MiB"; sizes that are not a whole number of KiB/MiB
// stay in bytes ("1500 B") so the label is exact.
std::string FormatBytes(uint64_t bytes);

// Latency in microseconds with about three significant digits: "0.412", "4.12", "41.2",
// "412", "4,120".
std::string FormatUs(double us);

// Rates with an SI suffix and three significant digits: "812", "81.2k", "1.23M".
std::string FormatRate(double per_second);

// Megabytes per second: "0.52", "52.1", "5,210".
std::string FormatMBps(double mb_per_s);

// A ratio such as an overhead: "1.23×", "12.3×", "123×".
std::string FormatRatio(double ratio);

// Integers with thousands separators: "1,000,000".
std::string FormatCount(uint64_t n);

// Axis tick labels: whole numbers below 10,000 with separators, compact above ("20k",
// "1M"); fractions with the digits they need ("0.5", "0.25").
std::string FormatTick(double v);

}  // namespace ferry::bench::report

#endif  // FERRY_BENCH_REPORT_FORMAT_H_
