#include "bench/report/charts.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "bench/report/format.h"
#include "bench/report/svg.h"

namespace ferry::bench::report {
namespace {

constexpr double kWideWidth = 1100;
constexpr double kPanelWidth = 540, kPanelHeight = 340;

// Running min (of positive values) and max, for choosing a scale.
struct Extent {
  double min_positive = std::numeric_limits<double>::infinity();
  double max = 0;
  bool empty() const { return max <= 0; }
  void Add(double v) {
    if (!std::isfinite(v)) return;
    if (v > 0) min_positive = std::min(min_positive, v);
    max = std::max(max, v);
  }
};

bool AnyFlagged(const ModeView& view, const SeriesKey& key) {
  for (const Result* r : view.flagged()) {
    if (KeyOf(*r) == key) return true;
  }
  return false;
}

std::string SeriesOpen(const SeriesKey& key, const ModeView& view) {
  return absl::StrCat("<g class=\"series\" data-series=\"", HtmlEscape(SeriesLabel(key)),
                      "\" data-impl=\"", HtmlEscape(key.impl), "\"",
                      AnyFlagged(view, key) ? " data-flagged=\"true\"" : "", ">\n");
}

// A red "!" badge above a flagged bar; drawn with shapes so it needs no special glyph.
std::string FlagBadge(double x, double y, absl::string_view tooltip) {
  return absl::StrCat("<g class=\"flag-badge\"><circle cx=\"", Px(x), "\" cy=\"", Px(y),
                      "\" r=\"6.5\"/><text x=\"", Px(x), "\" y=\"", Px(y + 4),
                      "\" text-anchor=\"middle\">!</text>", Tooltip(tooltip), "</g>");
}

std::string UnitSuffix(const Scale& s) { return s.is_log() ? ", log scale" : ""; }

// The value of a curve at `percentile`, interpolated along the nines axis; nullopt outside
// the curve's range.
std::optional<double> CurveAt(const std::vector<PercentilePoint>& curve, double percentile) {
  for (size_t i = 0; i < curve.size(); ++i) {
    if (std::fabs(curve[i].percentile - percentile) < 1e-9) return curve[i].us;
    if (i > 0 && curve[i - 1].percentile < percentile && curve[i].percentile > percentile) {
      double a = Nines(curve[i - 1].percentile), b = Nines(curve[i].percentile);
      double t = (Nines(percentile) - a) / (b - a);
      return curve[i - 1].us + t * (curve[i].us - curve[i - 1].us);
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<SeriesKey> SeriesWith(const ModeView& view, std::optional<double> Result::*figure) {
  std::vector<SeriesKey> out;
  for (const SeriesKey& key : view.series()) {
    for (uint64_t size : view.sizes()) {
      bool has = false;
      for (int c : view.concurrencies()) {
        const Result* r = view.At(key, size, c);
        if (r != nullptr && (r->*figure).has_value()) has = true;
      }
      if (has) {
        out.push_back(key);
        break;
      }
    }
  }
  return out;
}

std::string LatencyBarsChart(const ModeView& view, absl::string_view id, absl::string_view title,
                             absl::string_view subtitle) {
  std::vector<SeriesKey> series = SeriesWith(view, &Result::p50_us);
  std::vector<uint64_t> sizes;
  Extent extent;
  for (uint64_t size : view.sizes()) {
    bool any = false;
    for (const SeriesKey& key : series) {
      const Result* r = view.At(key, size);
      if (r == nullptr || !r->p50_us) continue;
      any = true;
      extent.Add(*r->p50_us);
      if (r->p99_us) extent.Add(*r->p99_us);
    }
    if (any) sizes.push_back(size);
  }
  if (series.empty() || sizes.empty() || extent.empty()) return "";

  const double height = 440;
  Plot plot{84, 60, kWideWidth - 84 - 16, height - 60 - 64};
  Scale y = Scale::Auto(extent.min_positive, extent.max, 10);
  y.SetRange(plot.bottom(), plot.top);
  double baseline = y.is_log() ? plot.bottom() : y.Map(0);

  std::vector<SeriesStyle> styles;
  for (const SeriesKey& key : series) styles.push_back(view.catalog().StyleOf(key));

  std::string out = SvgOpen(id, "latency-bars", kWideWidth, height, title);
  absl::StrAppend(&out, HatchDefs(id, styles), ChartHeading(12, title, subtitle),
                  YAxis(y, plot, absl::StrCat("round trip, µs", UnitSuffix(y)), FormatTick));

  double group_w = plot.width / sizes.size();
  double inner = group_w * (series.size() == 1 ? 0.5 : 0.86);
  double slot = inner / series.size();
  // Capped so a run with one or two series does not draw slabs.
  double bar_w = std::min(std::max(slot * 0.84, 1.0), 56.0);
  out += "<g class=\"groups\">\n";
  for (size_t g = 0; g < sizes.size(); ++g) {
    double gx = plot.left + g * group_w;
    if (g > 0) {
      absl::StrAppend(&out, "<line class=\"group-sep\" x1=\"", Px(gx), "\" x2=\"", Px(gx),
                      "\" y1=\"", Px(plot.top), "\" y2=\"", Px(plot.bottom() + 24), "\"/>");
    }
    absl::StrAppend(&out, "<text class=\"tick size-label\" x=\"", Px(gx + group_w / 2),
                    "\" y=\"", Px(plot.bottom() + 19), "\" text-anchor=\"middle\">",
                    HtmlEscape(FormatBytes(sizes[g])), "</text>\n");
  }
  absl::StrAppend(&out, "<text class=\"axis-title\" text-anchor=\"middle\" x=\"",
                  Px(plot.left + plot.width / 2), "\" y=\"", Px(plot.bottom() + 46),
                  "\">payload each way (one group per size, one bar per implementation × "
                  "mechanism)</text>\n</g>\n");

  for (size_t s = 0; s < series.size(); ++s) {
    const SeriesKey& key = series[s];
    out += SeriesOpen(key, view);
    for (size_t g = 0; g < sizes.size(); ++g) {
      double x = plot.left + g * group_w + (group_w - inner) / 2 + s * slot + (slot - bar_w) / 2;
      double cx = x + bar_w / 2;
      const Result* r = view.At(key, sizes[g]);
      if (r == nullptr || !r->p50_us) {
        // Keep the slot visibly empty so positions stay comparable across groups.
        absl::StrAppend(&out, "<g class=\"no-result\"><line x1=\"", Px(x), "\" x2=\"",
                        Px(x + bar_w), "\" y1=\"", Px(baseline - 1), "\" y2=\"",
                        Px(baseline - 1), "\"/>",
                        Tooltip(absl::StrCat(SeriesLabel(key), ", ", FormatBytes(sizes[g]),
                                             ": no result")),
                        "</g>\n");
        continue;
      }
      double top = std::min(y.Map(*r->p50_us), baseline - 1.5);
      std::string tip = DescribeResult(*r);
      bool flagged = r->errors > 0;
      absl::StrAppend(&out, "<rect class=\"mark bar", flagged ? " flagged" : "", "\" x=\"",
                      Px(x), "\" y=\"", Px(top), "\" width=\"", Px(bar_w), "\" height=\"",
                      Px(baseline - top), "\" ", BarAttrs(id, styles[s]), ">", Tooltip(tip),
                      "</rect>");
      double whisker_top = top;
      if (r->p99_us && *r->p99_us > *r->p50_us) {
        whisker_top = y.Map(*r->p99_us);
        double cap = std::min(bar_w * 0.6, 9.0) / 2;
        absl::StrAppend(&out, "<path class=\"whisker\" d=\"M", Px(cx), " ", Px(top), "V",
                        Px(whisker_top), "M", Px(cx - cap), " ", Px(whisker_top), "H",
                        Px(cx + cap), "\">", Tooltip(tip), "</path>");
      }
      if (flagged) out += FlagBadge(cx, whisker_top - 10, tip);
      out += "\n";
    }
    out += "</g>\n";
  }
  return out + SvgClose();
}

std::string PercentilePanels(const ModeView& view, absl::string_view id_prefix) {
  std::string out;
  int panels = 0;
  for (uint64_t size : view.sizes()) {
    std::vector<std::pair<SeriesKey, std::vector<PercentilePoint>>> curves;
    Extent extent;
    double max_nines = 2;
    for (const SeriesKey& key : view.series()) {
      const Result* r = view.At(key, size);
      if (r == nullptr) continue;
      std::vector<PercentilePoint> curve = CurveOf(*r);
      if (curve.empty()) continue;
      for (const PercentilePoint& p : curve) {
        extent.Add(p.us);
        max_nines = std::max(max_nines, Nines(p.percentile));
      }
      curves.emplace_back(key, std::move(curve));
    }
    if (curves.empty() || extent.empty()) continue;

    std::string id = absl::StrCat(id_prefix, "-", size);
    std::string title = absl::StrCat(FormatBytes(size), " payload");
    Plot plot{70, 52, kPanelWidth - 70 - 18, kPanelHeight - 52 - 56};
    Scale x = Scale::Percentiles(std::min(std::ceil(max_nines - 1e-6), 6.0));
    x.SetRange(plot.left, plot.right());
    Scale y = Scale::Auto(extent.min_positive, extent.max, 10);
    y.SetRange(plot.bottom(), plot.top);

    std::string svg = SvgOpen(id, "percentiles", kPanelWidth, kPanelHeight,
                              absl::StrCat("Latency by percentile, ", title));
    absl::StrAppend(&svg, ChartHeading(12, title, "round-trip latency by percentile"),
                    YAxis(y, plot, absl::StrCat("µs", UnitSuffix(y)), FormatTick),
                    XAxis(x, plot, "percentile (nines scale)", FormatTick));
    for (const auto& [key, curve] : curves) {
      SeriesStyle style = view.catalog().StyleOf(key);
      const Result* r = view.At(key, size);
      svg += SeriesOpen(key, view);
      std::string d;
      for (const PercentilePoint& p : curve) {
        if (Nines(p.percentile) > x.hi() + 1e-9) continue;  // past the axis' six nines
        absl::StrAppend(&d, d.empty() ? "M" : "L", Px(x.Map(Nines(p.percentile))), " ",
                        Px(y.Map(p.us)));
      }
      absl::StrAppend(&svg, "<path class=\"mark line\" d=\"", d, "\" ", LineAttrs(style), ">",
                      Tooltip(DescribeResult(*r)), "</path>\n");
      for (double p : {50.0, 90.0, 99.0, 99.9, 99.99}) {
        std::optional<double> us = CurveAt(curve, p);
        if (!us || Nines(p) > x.hi() + 1e-9) continue;
        std::string tip = absl::StrCat(SeriesLabel(key), ", ", FormatBytes(size), "\np",
                                       PercentileLabel(p), " ", FormatUs(*us), " µs");
        if (r->errors > 0) absl::StrAppend(&tip, "\n⚠ ", FormatCount(r->errors), " failed calls");
        svg += Marker(style, x.Map(Nines(p)), y.Map(*us), r->errors > 0, tip);
      }
      svg += "\n</g>\n";
    }
    absl::StrAppend(&out, "<figure class=\"chart panel\">", svg, SvgClose(), "</figure>\n");
    ++panels;
  }
  if (panels == 0) return "";
  return absl::StrCat("<div class=\"panels\">\n", out, "</div>\n");
}

std::string ThroughputPanels(const ModeView& view, absl::string_view id_prefix,
                             std::optional<double> Result::*figure, absl::string_view what) {
  std::string out;
  int panels = 0;
  for (uint64_t size : view.sizes()) {
    Extent extent;
    std::set<int> callers;
    std::vector<SeriesKey> series;
    for (const SeriesKey& key : view.series()) {
      bool any = false;
      for (int c : view.concurrencies()) {
        const Result* r = view.At(key, size, c);
        if (r == nullptr || !(r->*figure)) continue;
        any = true;
        extent.Add(*(r->*figure));
        callers.insert(c);
      }
      if (any) series.push_back(key);
    }
    if (series.empty() || extent.empty()) continue;

    std::string id = absl::StrCat(id_prefix, "-", size);
    std::string title = absl::StrCat(FormatBytes(size), " payload");
    Plot plot{76, 52, kPanelWidth - 76 - 22, kPanelHeight - 52 - 56};
    int lo = *callers.begin(), hi = *callers.rbegin();
    std::vector<double> tick_values(callers.begin(), callers.end());
    Scale x = lo > 0 && hi >= 4 * lo ? Scale::Log2(lo, hi)
              : lo == hi             ? Scale::Linear(lo - 1, hi + 1)
                                     : Scale::Linear(lo, hi);
    x.SetTickValues(tick_values);
    // Keep the end points off the axes so their markers are not clipped.
    x.SetRange(plot.left + 12, plot.right() - 12);
    Scale y = Scale::Auto(extent.min_positive, extent.max, 20);
    y.SetRange(plot.bottom(), plot.top);

    std::string svg = SvgOpen(id, "throughput", kPanelWidth, kPanelHeight,
                              absl::StrCat(what, " against callers, ", title));
    absl::StrAppend(&svg, ChartHeading(12, title, absl::StrCat(what, " against callers in flight")),
                    YAxis(y, plot, absl::StrCat(what, UnitSuffix(y)), FormatTick),
                    XAxis(x, plot,
                          absl::StrCat("callers in flight", x.is_log() ? " (log scale)" : ""),
                          FormatTick));
    for (const SeriesKey& key : series) {
      SeriesStyle style = view.catalog().StyleOf(key);
      svg += SeriesOpen(key, view);
      std::string d, markers;
      for (int c : view.concurrencies()) {
        const Result* r = view.At(key, size, c);
        if (r == nullptr || !(r->*figure)) continue;
        double px = x.Map(c), py = y.Map(*(r->*figure));
        absl::StrAppend(&d, d.empty() ? "M" : "L", Px(px), " ", Px(py));
        markers += Marker(style, px, py, r->errors > 0, DescribeResult(*r));
      }
      absl::StrAppend(&svg, "<path class=\"mark line\" d=\"", d, "\" ", LineAttrs(style), ">",
                      Tooltip(SeriesLabel(key)), "</path>\n", markers, "\n</g>\n");
    }
    absl::StrAppend(&out, "<figure class=\"chart panel\">", svg, SvgClose(), "</figure>\n");
    ++panels;
  }
  if (panels == 0) return "";
  return absl::StrCat("<div class=\"panels\">\n", out, "</div>\n");
}

std::string Legend(const ModeView& view, const std::vector<SeriesKey>& series,
                   absl::string_view id_prefix) {
  std::set<ImplStyle> impls;
  std::string items;
  int i = 0;
  for (const SeriesKey& key : series) {
    SeriesStyle style = view.catalog().StyleOf(key);
    impls.insert(style.impl);
    bool flagged = AnyFlagged(view, key);
    absl::StrAppend(&items, "<li", flagged ? " class=\"flagged\"" : "", ">",
                    LegendSwatch(absl::StrCat(id_prefix, "-swatch-", i++), style), "<span>",
                    HtmlEscape(SeriesLabel(key)), "</span>",
                    flagged ? "<span class=\"flag-text\">⚠ failed calls</span>" : "", "</li>");
  }
  std::vector<std::string> key_parts;
  if (impls.count(ImplStyle::kFerry)) key_parts.push_back("solid = Ferry");
  if (impls.count(ImplStyle::kRaw)) {
    key_parts.push_back("hatched bar / dashed line = raw mechanism, no RPC layer");
  }
  if (impls.count(ImplStyle::kGrpc)) key_parts.push_back("pale bar / dotted line = gRPC");
  if (impls.count(ImplStyle::kOther)) {
    bool rawpb = false;
    for (const SeriesKey& key : series) rawpb = rawpb || key.impl == "rawpb";
    key_parts.push_back(rawpb ? "translucent bar = rawpb, the raw mechanism carrying the "
                                "call's protobuf work"
                              : "translucent bar = another implementation");
  }
  std::string key_text = "Colour = mechanism";
  for (const std::string& p : key_parts) absl::StrAppend(&key_text, "; ", p);
  return absl::StrCat("<div class=\"legend\"><ul>", items, "</ul><p class=\"legend-key\">",
                      HtmlEscape(key_text), ".</p></div>\n");
}

}  // namespace ferry::bench::report
