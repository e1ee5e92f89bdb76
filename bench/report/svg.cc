#include "bench/report/svg.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/report/format.h"

namespace ferry::bench::report {
namespace {

// The largest "nice" step (1, 2 or 5 x 10^k) that gives about `target` intervals.
double NiceStep(double span, int target) {
  double raw = span / target;
  double mag = std::pow(10, std::floor(std::log10(raw)));
  double norm = raw / mag;
  double nice = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return nice * mag;
}

// Log scales must never see zero or negatives (an empty histogram bucket can report 0).
constexpr double kTinyPositive = 1e-9;

}  // namespace

std::string Px(double v) {
  std::string s = absl::StrFormat("%.1f", v);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  if (s == "-0") s = "0";
  return s;
}

// ---- Scales -------------------------------------------------------------------------------

Scale Scale::Linear(double lo, double hi) {
  if (!(hi > lo)) hi = lo + 1;
  return Scale(Kind::kLinear, lo, hi);
}

Scale Scale::Log10(double lo, double hi) {
  lo = std::max(lo, kTinyPositive);
  hi = std::max(hi, lo);
  // Bounds on the 1-2-5 ladder: round numbers without wasting most of a decade of space.
  auto down = [](double v) {
    double d = std::pow(10, std::floor(std::log10(v) + 1e-9));
    for (double m : {5.0, 2.0, 1.0}) {
      if (m * d <= v * (1 + 1e-9)) return m * d;
    }
    return d;
  };
  auto up = [](double v) {
    double d = std::pow(10, std::floor(std::log10(v) - 1e-9));
    for (double m : {1.0, 2.0, 5.0, 10.0}) {
      if (m * d >= v * (1 - 1e-9)) return m * d;
    }
    return 10 * d;
  };
  double l = down(lo), h = up(hi);
  if (h <= l) h = up(l * 1.5);
  return Scale(Kind::kLog10, l, h);
}

Scale Scale::Log2(double lo, double hi) {
  lo = std::max(lo, kTinyPositive);
  hi = std::max(hi, lo);
  double l = std::pow(2, std::floor(std::log2(lo) + 1e-9));
  double h = std::pow(2, std::ceil(std::log2(hi) - 1e-9));
  if (h <= l) h = l * 2;
  return Scale(Kind::kLog2, l, h);
}

Scale Scale::Percentiles(double max_nines) { return Scale(Kind::kNines, 0, std::max(max_nines, 1.0)); }

Scale Scale::Auto(double min_positive, double max, double log_ratio) {
  if (min_positive > 0 && max / min_positive >= log_ratio) return Log10(min_positive, max);
  if (!(max > 0)) return Linear(0, 1);
  // Headroom so the tallest bar or whisker does not touch the chart's top edge.
  double step = NiceStep(max * 1.08, 5);
  return Linear(0, std::ceil(max * 1.08 / step) * step);
}

Scale& Scale::SetRange(double px_lo, double px_hi) {
  px_lo_ = px_lo;
  px_hi_ = px_hi;
  return *this;
}

Scale& Scale::SetTickValues(std::vector<double> values) {
  tick_values_ = std::move(values);
  return *this;
}

double Scale::Transform(double v) const {
  switch (kind_) {
    case Kind::kLinear: return v;
    case Kind::kLog10: return std::log10(std::max(v, kTinyPositive));
    case Kind::kLog2: return std::log2(std::max(v, kTinyPositive));
    case Kind::kNines: return v;  // callers pass Nines(p), already transformed
  }
  return v;
}

double Scale::Map(double v) const {
  double t0 = Transform(lo_), t1 = Transform(hi_);
  double t = (Transform(v) - t0) / (t1 - t0);
  return px_lo_ + t * (px_hi_ - px_lo_);
}

std::vector<Tick> Scale::Ticks(const TickFormatter& format) const {
  std::vector<Tick> ticks;
  if (!tick_values_.empty()) {
    for (double v : tick_values_) ticks.push_back({v, format(v), true});
    return ticks;
  }
  switch (kind_) {
    case Kind::kLinear: {
      double step = NiceStep(hi_ - lo_, 5);
      for (double v = std::ceil(lo_ / step - 1e-9) * step; v <= hi_ + step * 1e-6; v += step) {
        double clean = std::fabs(v) < step * 1e-9 ? 0 : v;
        ticks.push_back({clean, format(clean), true});
      }
      break;
    }
    case Kind::kLog10: {
      int k0 = static_cast<int>(std::floor(std::log10(lo_) + 1e-9));
      int k1 = static_cast<int>(std::ceil(std::log10(hi_) - 1e-9));
      // Few decades: label 2x and 5x too, or the axis would carry one or two labels.
      bool few_decades = std::log10(hi_ / lo_) <= 3 + 1e-9;
      for (int k = k0; k <= k1; ++k) {
        double base = std::pow(10, k);
        for (int m = 1; m <= 9; ++m) {
          double v = m * base;
          if (v < lo_ * (1 - 1e-9) || v > hi_ * (1 + 1e-9)) continue;
          bool labelled = m == 1 || (few_decades && (m == 2 || m == 5));
          ticks.push_back({v, labelled ? format(v) : "", labelled});
        }
      }
      break;
    }
    case Kind::kLog2: {
      for (double v = lo_; v <= hi_ * (1 + 1e-9); v *= 2) ticks.push_back({v, format(v), true});
      break;
    }
    case Kind::kNines: {
      for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999, 99.9999}) {
        if (Nines(p) <= hi_ + 1e-9) ticks.push_back({Nines(p), PercentileLabel(p), true});
      }
      break;
    }
  }
  return ticks;
}

double Nines(double percentile) {
  double p = std::min(std::max(percentile, 0.0), 99.99999);
  return -std::log10(1 - p / 100);
}

std::string PercentileLabel(double percentile) {
  std::string s = absl::StrFormat("%.6f", percentile);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// ---- Layout and axes ----------------------------------------------------------------------

std::string SvgOpen(absl::string_view id, absl::string_view kind, double width, double height,
                    absl::string_view title) {
  return absl::StrCat("<svg class=\"chart-svg\" id=\"", HtmlEscape(id), "\" data-chart=\"",
                      HtmlEscape(kind), "\" viewBox=\"0 0 ", Px(width), " ", Px(height),
                      "\" width=\"", Px(width), "\" height=\"", Px(height),
                      "\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
                      "preserveAspectRatio=\"xMinYMin meet\"><title>",
                      HtmlEscape(title), "</title>\n");
}

std::string SvgClose() { return "</svg>\n"; }

std::string ChartHeading(double x, absl::string_view title, absl::string_view subtitle) {
  std::string out = absl::StrCat("<text class=\"chart-title\" x=\"", Px(x), "\" y=\"20\">",
                                 HtmlEscape(title), "</text>\n");
  if (!subtitle.empty()) {
    absl::StrAppend(&out, "<text class=\"chart-subtitle\" x=\"", Px(x), "\" y=\"38\">",
                    HtmlEscape(subtitle), "</text>\n");
  }
  return out;
}

std::string YAxis(const Scale& y, const Plot& plot, absl::string_view label,
                  const TickFormatter& format) {
  std::string out = "<g class=\"axis y-axis\">\n";
  for (const Tick& t : y.Ticks(format)) {
    double py = y.Map(t.value);
    if (py < plot.top - 0.5 || py > plot.bottom() + 0.5) continue;
    absl::StrAppend(&out, "<line class=\"grid", t.major ? "" : " minor", "\" x1=\"",
                    Px(plot.left), "\" x2=\"", Px(plot.right()), "\" y1=\"", Px(py),
                    "\" y2=\"", Px(py), "\"/>");
    if (!t.label.empty()) {
      absl::StrAppend(&out, "<text class=\"tick\" x=\"", Px(plot.left - 7), "\" y=\"",
                      Px(py + 4), "\" text-anchor=\"end\">", HtmlEscape(t.label), "</text>");
    }
    out += "\n";
  }
  absl::StrAppend(&out, "<line class=\"axis-line\" x1=\"", Px(plot.left), "\" x2=\"",
                  Px(plot.left), "\" y1=\"", Px(plot.top), "\" y2=\"", Px(plot.bottom()),
                  "\"/>\n");
  double cy = plot.top + plot.height / 2, cx = plot.left - 50;
  absl::StrAppend(&out, "<text class=\"axis-title\" text-anchor=\"middle\" transform=\"translate(",
                  Px(cx), " ", Px(cy), ") rotate(-90)\">", HtmlEscape(label), "</text>\n</g>\n");
  return out;
}

std::string XAxis(const Scale& x, const Plot& plot, absl::string_view label,
                  const TickFormatter& format) {
  std::string out = "<g class=\"axis x-axis\">\n";
  for (const Tick& t : x.Ticks(format)) {
    double px = x.Map(t.value);
    if (px < plot.left - 0.5 || px > plot.right() + 0.5) continue;
    absl::StrAppend(&out, "<line class=\"grid", t.major ? "" : " minor", "\" x1=\"", Px(px),
                    "\" x2=\"", Px(px), "\" y1=\"", Px(plot.top), "\" y2=\"",
                    Px(plot.bottom()), "\"/>");
    if (!t.label.empty()) {
      absl::StrAppend(&out, "<text class=\"tick\" x=\"", Px(px), "\" y=\"",
                      Px(plot.bottom() + 17), "\" text-anchor=\"middle\">",
                      HtmlEscape(t.label), "</text>");
    }
    out += "\n";
  }
  absl::StrAppend(&out, "<line class=\"axis-line\" x1=\"", Px(plot.left), "\" x2=\"",
                  Px(plot.right()), "\" y1=\"", Px(plot.bottom()), "\" y2=\"",
                  Px(plot.bottom()), "\"/>\n");
  absl::StrAppend(&out, "<text class=\"axis-title\" text-anchor=\"middle\" x=\"",
                  Px(plot.left + plot.width / 2), "\" y=\"", Px(plot.bottom() + 40), "\">",
                  HtmlEscape(label), "</text>\n</g>\n");
  return out;
}

std::string Tooltip(absl::string_view text) {
  return absl::StrCat("<title>", HtmlEscape(text), "</title>");
}

// ---- Series styles ------------------------------------------------------------------------

ImplStyle ImplStyleFor(absl::string_view impl) {
  if (impl == "ferry") return ImplStyle::kFerry;
  if (impl == "raw") return ImplStyle::kRaw;
  if (impl == "grpc") return ImplStyle::kGrpc;
  return ImplStyle::kOther;
}

std::string PaletteColour(int index) {
  // Okabe-Ito first (yellow last: it is faint on white), then Paul Tol's "muted" set for
  // runs with more than eight mechanisms.
  static const char* const kColours[] = {
      "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
      "#F0E442", "#332288", "#117733", "#882255", "#999933", "#AA4499", "#44AA99",
  };
  constexpr int kCount = sizeof(kColours) / sizeof(kColours[0]);
  return kColours[((index % kCount) + kCount) % kCount];
}

namespace {

std::string HatchPattern(absl::string_view id, const std::string& colour) {
  return absl::StrCat("<pattern id=\"", HtmlEscape(id),
                      "\" patternUnits=\"userSpaceOnUse\" width=\"5\" height=\"5\" "
                      "patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" "
                      "fill=\"#ffffff\"/><rect width=\"2.4\" height=\"5\" fill=\"",
                      colour, "\"/></pattern>");
}

std::string HatchId(absl::string_view chart_id, int colour_index) {
  return absl::StrCat(chart_id, "-hatch-", colour_index);
}

std::string BarAttrsWithHatch(const std::string& hatch_id, const SeriesStyle& style) {
  std::string c = PaletteColour(style.colour_index);
  switch (style.impl) {
    case ImplStyle::kFerry:
      return absl::StrCat("fill=\"", c, "\"");
    case ImplStyle::kRaw:
      return absl::StrCat("fill=\"url(#", HtmlEscape(hatch_id), ")\" stroke=\"", c,
                          "\" stroke-width=\"1.2\"");
    case ImplStyle::kGrpc:
      return absl::StrCat("fill=\"", c, "\" fill-opacity=\"0.25\" stroke=\"", c,
                          "\" stroke-width=\"1.4\" stroke-dasharray=\"2 2\"");
    case ImplStyle::kOther:
      return absl::StrCat("fill=\"", c, "\" fill-opacity=\"0.6\"");
  }
  return "";
}

std::string MarkerShape(const SeriesStyle& style, double x, double y) {
  std::string c = PaletteColour(style.colour_index);
  switch (style.impl) {
    case ImplStyle::kRaw:
      return absl::StrCat("<rect x=\"", Px(x - 3.5), "\" y=\"", Px(y - 3.5),
                          "\" width=\"7\" height=\"7\" fill=\"#ffffff\" stroke=\"", c,
                          "\" stroke-width=\"1.8\"/>");
    case ImplStyle::kGrpc:
      return absl::StrCat("<path d=\"M", Px(x), " ", Px(y - 4.5), "L", Px(x + 4.5), " ",
                          Px(y + 3.5), "L", Px(x - 4.5), " ", Px(y + 3.5), "Z\" fill=\"", c,
                          "\" stroke=\"#ffffff\" stroke-width=\"0.8\"/>");
    case ImplStyle::kFerry:
    case ImplStyle::kOther:
      return absl::StrCat("<circle cx=\"", Px(x), "\" cy=\"", Px(y), "\" r=\"4\" fill=\"", c,
                          "\" stroke=\"#ffffff\" stroke-width=\"1\"/>");
  }
  return "";
}

}  // namespace

std::string HatchDefs(absl::string_view chart_id, const std::vector<SeriesStyle>& styles) {
  std::set<int> colours;
  for (const SeriesStyle& s : styles) {
    if (s.impl == ImplStyle::kRaw) colours.insert(s.colour_index);
  }
  if (colours.empty()) return "";
  std::string out = "<defs>";
  for (int c : colours) out += HatchPattern(HatchId(chart_id, c), PaletteColour(c));
  return out + "</defs>\n";
}

std::string BarAttrs(absl::string_view chart_id, const SeriesStyle& style) {
  return BarAttrsWithHatch(HatchId(chart_id, style.colour_index), style);
}

std::string LineAttrs(const SeriesStyle& style) {
  std::string c = PaletteColour(style.colour_index);
  std::string out = absl::StrCat("fill=\"none\" stroke=\"", c,
                                 "\" stroke-width=\"2\" stroke-linejoin=\"round\"");
  if (style.impl == ImplStyle::kRaw) out += " stroke-dasharray=\"7 4\"";
  if (style.impl == ImplStyle::kGrpc) {
    out += " stroke-dasharray=\"0.5 4\" stroke-linecap=\"round\" stroke-width=\"2.6\"";
  }
  return out;
}

std::string Marker(const SeriesStyle& style, double x, double y, bool flagged,
                   absl::string_view tooltip) {
  std::string out = absl::StrCat("<g class=\"mark point", flagged ? " flagged" : "", "\">");
  if (flagged) {
    absl::StrAppend(&out, "<circle class=\"flag-ring\" cx=\"", Px(x), "\" cy=\"", Px(y),
                    "\" r=\"8\"/>");
  }
  absl::StrAppend(&out, MarkerShape(style, x, y), Tooltip(tooltip), "</g>");
  return out;
}

std::string LegendSwatch(absl::string_view id, const SeriesStyle& style) {
  std::string hatch = absl::StrCat(id, "-hatch");
  std::string out =
      "<svg class=\"swatch\" width=\"46\" height=\"14\" viewBox=\"0 0 46 14\" "
      "aria-hidden=\"true\">";
  if (style.impl == ImplStyle::kRaw) {
    absl::StrAppend(&out, "<defs>", HatchPattern(hatch, PaletteColour(style.colour_index)),
                    "</defs>");
  }
  absl::StrAppend(&out, "<rect x=\"1\" y=\"1\" width=\"13\" height=\"12\" ",
                  BarAttrsWithHatch(hatch, style), "/>", "<line x1=\"19\" y1=\"7\" x2=\"45\" y2=\"7\" ",
                  LineAttrs(style), "/>", MarkerShape(style, 32, 7), "</svg>");
  return out;
}

}  // namespace ferry::bench::report
