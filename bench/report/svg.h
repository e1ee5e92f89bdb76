// SVG primitives for the HTML report's charts: scales, ticks, axes, the palette and how
// each implementation (ferry, raw, grpc) is drawn.
//
// Internal to //bench:report_html. Everything here returns markup as a string; nothing
// keeps state between calls, so charts are pure functions of their data.
//
// Encoding used by every chart: colour = mechanism (transport + variant), drawn from the
// Okabe-Ito palette, which stays distinguishable under the common colour-vision
// deficiencies; style = implementation, so the encoding survives greyscale printing too:
//   ferry  solid bar, solid line, filled circle
//   raw    hatched bar, dashed line, open square
//   grpc   pale bar with dotted outline, dotted line, filled triangle
#ifndef FERRY_BENCH_REPORT_SVG_H_
#define FERRY_BENCH_REPORT_SVG_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ferry::bench::report {

// A coordinate or length as SVG text: at most one decimal, no trailing zeros.
std::string Px(double v);

// ---- Scales -------------------------------------------------------------------------------

struct Tick {
  double value = 0;
  std::string label;  // empty for minor ticks (grid line only)
  bool major = true;
};

using TickFormatter = std::function<std::string(double)>;

// Maps data values to pixels. Log scales expand their domain to whole decades (powers of
// two for log2) so every tick lands on a round number.
class Scale {
 public:
  enum class Kind { kLinear, kLog10, kLog2, kNines };

  // [lo, hi] as given; ticks at 1/2/5 x 10^k steps.
  static Scale Linear(double lo, double hi);
  // Requires 0 < lo <= hi.
  static Scale Log10(double lo, double hi);
  static Scale Log2(double lo, double hi);
  // Percentiles on a "nines" axis: x = -log10(1 - p/100), so 90, 99, 99.9 and 99.99 are
  // equally spaced. Domain [0 (p0), max_nines].
  static Scale Percentiles(double max_nines);
  // For values in [min_positive, max]: log10 when they span at least `log_ratio`, else
  // linear from zero up to a round maximum with a little headroom.
  static Scale Auto(double min_positive, double max, double log_ratio = 20);

  Scale& SetRange(double px_lo, double px_hi);
  // Ticks exactly at these values (e.g. the measured concurrency levels) instead of the
  // generated ones.
  Scale& SetTickValues(std::vector<double> values);

  double Map(double v) const;
  std::vector<Tick> Ticks(const TickFormatter& format) const;

  Kind kind() const { return kind_; }
  bool is_log() const { return kind_ == Kind::kLog10 || kind_ == Kind::kLog2; }
  double lo() const { return lo_; }
  double hi() const { return hi_; }

 private:
  Scale(Kind kind, double lo, double hi) : kind_(kind), lo_(lo), hi_(hi) {}
  double Transform(double v) const;

  Kind kind_;
  double lo_, hi_;
  double px_lo_ = 0, px_hi_ = 1;
  std::vector<double> tick_values_;
};

// -log10(1 - p/100), with p capped just below 100 so the maximum stays finite.
double Nines(double percentile);
// Tick label for a percentile: "50", "99.9".
std::string PercentileLabel(double percentile);

// ---- Layout and axes ----------------------------------------------------------------------

// The plotting area inside a chart's SVG, in SVG user units.
struct Plot {
  double left = 0, top = 0, width = 0, height = 0;
  double right() const { return left + width; }
  double bottom() const { return top + height; }
};

// Opens a chart: <svg class="chart-svg" data-chart=kind ...> with an accessible <title>.
// The SVG scales to its container's width; its viewBox keeps the aspect ratio.
std::string SvgOpen(absl::string_view id, absl::string_view kind, double width, double height,
                    absl::string_view title);
std::string SvgClose();

// Title (bold) and subtitle (muted) in the chart's top-left corner.
std::string ChartHeading(double x, absl::string_view title, absl::string_view subtitle);

// Horizontal grid lines, tick labels and a rotated axis title on the plot's left.
std::string YAxis(const Scale& y, const Plot& plot, absl::string_view label,
                  const TickFormatter& format);
// Vertical grid lines, tick labels and the axis title under the plot.
std::string XAxis(const Scale& x, const Plot& plot, absl::string_view label,
                  const TickFormatter& format);

// A hover tooltip for the enclosing element.
std::string Tooltip(absl::string_view text);

// ---- Series styles ------------------------------------------------------------------------

enum class ImplStyle { kFerry, kRaw, kGrpc, kOther };
ImplStyle ImplStyleFor(absl::string_view impl);

struct SeriesStyle {
  int colour_index = 0;
  ImplStyle impl = ImplStyle::kFerry;
};

// The palette colour for an index; indices past the palette wrap around.
std::string PaletteColour(int index);

// <defs> with the hatch patterns that raw bars in chart `chart_id` refer to.
std::string HatchDefs(absl::string_view chart_id, const std::vector<SeriesStyle>& styles);
// fill/stroke attributes for a bar of this style.
std::string BarAttrs(absl::string_view chart_id, const SeriesStyle& style);
// stroke attributes for a line of this style.
std::string LineAttrs(const SeriesStyle& style);
// A point marker in this style with a tooltip; `flagged` rings it in red (failed calls).
std::string Marker(const SeriesStyle& style, double x, double y, bool flagged,
                   absl::string_view tooltip);
// A small standalone <svg> showing the style as a bar and a line, for HTML legends.
// `id` must be unique in the page (it names the swatch's hatch pattern).
std::string LegendSwatch(absl::string_view id, const SeriesStyle& style);

}  // namespace ferry::bench::report

#endif  // FERRY_BENCH_REPORT_SVG_H_
