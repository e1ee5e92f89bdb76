// The report's charts, drawn as inline SVG from a ModeView.
//
// Internal to //bench:report_html. Each function returns markup ready to place in the page,
// or an empty string when the view has nothing it can draw (the page then says what is
// missing instead). Every data mark carries class "mark" and a <title> tooltip with exact
// values; every series is a <g class="series" data-series="...">. Marks of results with
// failed calls are ringed in red and carry class "flagged". `id` / `id_prefix` must be
// unique in the page: element ids and hatch patterns derive from them.
#ifndef FERRY_BENCH_REPORT_CHARTS_H_
#define FERRY_BENCH_REPORT_CHARTS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "bench/report/analysis.h"

namespace ferry::bench::report {

// Grouped bars: one group per size, one bar per series, bar = p50, whisker up to p99, on a
// log axis when the values span more than an order of magnitude.
std::string LatencyBarsChart(const ModeView& view, absl::string_view id, absl::string_view title,
                             absl::string_view subtitle);

// Small multiples, one panel per size: latency against percentile on a "nines" axis, one
// line per series. Returns a <div class="panels"> of <figure>s.
std::string PercentilePanels(const ModeView& view, absl::string_view id_prefix);

// Small multiples, one panel per size: `figure` (calls/s or MB/s) against the number of
// callers, one line per series. `what` names the figure on the axis ("calls/s").
std::string ThroughputPanels(const ModeView& view, absl::string_view id_prefix,
                             std::optional<double> Result::*figure, absl::string_view what);

// An HTML legend for `series` (colour = mechanism, style = implementation), with a
// one-line key to the styles. Series with failed calls are marked.
std::string Legend(const ModeView& view, const std::vector<SeriesKey>& series,
                   absl::string_view id_prefix);

// The series of the view that have `figure` somewhere, in display order.
std::vector<SeriesKey> SeriesWith(const ModeView& view, std::optional<double> Result::*figure);

}  // namespace ferry::bench::report

#endif  // FERRY_BENCH_REPORT_CHARTS_H_
