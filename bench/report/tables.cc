#include "bench/report/tables.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/report/format.h"
#include "bench/report/svg.h"

namespace ferry::bench::report {
namespace {

// A colour dot that ties a table row to its chart colour.
std::string Dot(const SeriesCatalog& catalog, const SeriesKey& key) {
  return absl::StrCat("<span class=\"dot\" style=\"background:",
                      PaletteColour(catalog.StyleOf(key).colour_index), "\"></span>");
}

std::string SizeHeader(const std::vector<uint64_t>& sizes, absl::string_view first) {
  std::string out = absl::StrCat("<thead><tr><th scope=\"col\">", HtmlEscape(first), "</th>");
  for (uint64_t s : sizes) {
    absl::StrAppend(&out, "<th scope=\"col\" class=\"num\">", HtmlEscape(FormatBytes(s)),
                    "</th>");
  }
  return out + "</tr></thead>";
}

// The title sits above the table rather than in <caption>: a caption wraps to the width of
// a narrow table. aria-label keeps the table named for screen readers.
std::string TableOpen(absl::string_view cls, absl::string_view caption) {
  return absl::StrCat("<div class=\"table-wrap\"><p class=\"table-title\">",
                      HtmlEscape(caption), "</p><table class=\"", cls, "\" aria-label=\"",
                      HtmlEscape(caption), "\">");
}

constexpr char kTableClose[] = "</tbody></table></div>\n";
constexpr char kEmptyCell[] = "<td class=\"num none\" title=\"no result\">—</td>";

std::string FlagText(uint64_t errors) {
  return absl::StrCat("<span class=\"flag-text\">⚠ ", FormatCount(errors), " failed</span>");
}

// Opens a numeric cell for `results` (the ones the cell's number comes from).
std::string CellOpen(std::vector<const Result*> results, bool best, absl::string_view title) {
  uint64_t errors = 0;
  for (const Result* r : results) errors += r->errors;
  std::string cls = "num";
  if (best) cls += " best";
  if (errors > 0) cls += " flagged";
  return absl::StrCat("<td class=\"", cls, "\" title=\"", HtmlEscape(title), "\">");
}

std::string ErrorsSuffix(std::vector<const Result*> results) {
  uint64_t errors = 0;
  for (const Result* r : results) errors += r->errors;
  return errors > 0 ? FlagText(errors) : "";
}

std::string Sub(absl::string_view text) {
  return absl::StrCat("<span class=\"sub\">", HtmlEscape(text), "</span>");
}

// The distinct mechanisms of the ferry series in the view, in display order.
std::vector<SeriesKey> FerrySeries(const ModeView& view) {
  std::vector<SeriesKey> out;
  for (const SeriesKey& k : view.series()) {
    if (k.impl == "ferry") out.push_back(k);
  }
  return out;
}

// "uds (backing=x)" vs the counterpart's own label, noted when the variants differ.
std::string CounterpartNote(const Result& ferry, const Result& other) {
  if (ferry.variant == other.variant) return "";
  return absl::StrCat(" (compared with ", SeriesLabel(KeyOf(other)), ")");
}

std::string SizesPhrase(const WinnerRun& run, size_t total_sizes, size_t runs) {
  if (runs == 1 && static_cast<size_t>(run.sizes) == total_sizes && total_sizes > 1) {
    return absl::StrCat("at every measured size (", FormatBytes(run.first_size), " to ",
                        FormatBytes(run.last_size), ")");
  }
  if (run.sizes == 1) return absl::StrCat("at ", FormatBytes(run.first_size));
  return absl::StrCat("from ", FormatBytes(run.first_size), " to ", FormatBytes(run.last_size));
}

std::string Answer(absl::string_view who, const std::vector<FastestRow>& rows,
                   std::vector<Ranked> FastestRow::*ranking) {
  std::vector<WinnerRun> runs = WinnerRuns(rows, ranking);
  if (runs.empty()) return "";
  std::vector<std::string> parts;
  for (const WinnerRun& run : runs) {
    parts.push_back(absl::StrCat("<strong>", HtmlEscape(run.mechanism), "</strong> ",
                                 HtmlEscape(SizesPhrase(run, rows.size(), runs.size()))));
  }
  std::string joined = parts.size() <= 2
                           ? absl::StrJoin(parts, " and ")
                           : absl::StrCat(absl::StrJoin(parts.begin(), parts.end() - 1, ", "),
                                          " and ", parts.back());
  return absl::StrCat("<li>", HtmlEscape(who), ": ", joined, ".</li>");
}

// A ranking cell: the mechanism, its p50, and for runner-ups the ratio to the winner.
std::string RankCell(const SeriesCatalog& catalog, const std::vector<Ranked>& ranked,
                     size_t place) {
  if (ranked.size() <= place) {
    return place == 0 ? "<td class=\"none\">no error-free result</td>"
                      : "<td class=\"none\">—</td>";
  }
  const Ranked& r = ranked[place];
  std::string sub = absl::StrCat("p50 ", FormatUs(r.p50), " µs");
  if (place > 0 && ranked[0].p50 > 0) {
    absl::StrAppend(&sub, " · ", FormatRatio(r.p50 / ranked[0].p50), " the winner's");
  }
  return absl::StrCat("<td class=\"", place == 0 ? "winner" : "runner-up", "\" title=\"",
                      HtmlEscape(DescribeResult(*r.result)), "\">", Dot(catalog, r.series),
                      HtmlEscape(MechanismLabel(r.series.transport, r.series.variant)),
                      Sub(sub), "</td>");
}

}  // namespace

std::string LatencyTable(const ModeView& view, absl::string_view caption) {
  const std::vector<uint64_t>& sizes = view.sizes();
  // The lowest error-free p50 of each column.
  std::vector<double> best(sizes.size(), std::numeric_limits<double>::infinity());
  for (size_t i = 0; i < sizes.size(); ++i) {
    for (const SeriesKey& k : view.series()) {
      const Result* r = view.At(k, sizes[i]);
      if (r != nullptr && r->p50_us && r->errors == 0) best[i] = std::min(best[i], *r->p50_us);
    }
  }
  std::string body;
  for (const SeriesKey& k : view.series()) {
    absl::StrAppend(&body, "<tr><th scope=\"row\">", Dot(view.catalog(), k),
                    HtmlEscape(SeriesLabel(k)), "</th>");
    for (size_t i = 0; i < sizes.size(); ++i) {
      const Result* r = view.At(k, sizes[i]);
      if (r == nullptr) {
        body += kEmptyCell;
        continue;
      }
      bool is_best = r->p50_us && r->errors == 0 && *r->p50_us == best[i];
      body += CellOpen({r}, is_best, DescribeResult(*r));
      body += r->p50_us ? absl::StrCat("<b>", FormatUs(*r->p50_us), "</b>") : "<b>—</b>";
      if (r->p99_us) body += Sub(absl::StrCat("p99 ", FormatUs(*r->p99_us)));
      if (r->cpu_us_per_call) body += Sub(absl::StrCat("CPU ", FormatUs(*r->cpu_us_per_call)));
      if (r->calls_per_s && view.mode() != "latency") {
        body += Sub(absl::StrCat(FormatRate(*r->calls_per_s), " calls/s"));
      }
      absl::StrAppend(&body, ErrorsSuffix({r}), "</td>");
    }
    body += "</tr>\n";
  }
  if (body.empty()) return "";
  return absl::StrCat(TableOpen("numbers", caption),
                      SizeHeader(sizes, "implementation · mechanism"), "<tbody>", body,
                      kTableClose);
}

std::string ThroughputTable(const ModeView& view, absl::string_view caption) {
  std::string body;
  for (const SeriesKey& k : view.series()) {
    absl::StrAppend(&body, "<tr><th scope=\"row\">", Dot(view.catalog(), k),
                    HtmlEscape(SeriesLabel(k)), "</th>");
    for (uint64_t size : view.sizes()) {
      const Result* r = view.Peak(k, size);
      if (r == nullptr) {
        body += kEmptyCell;
        continue;
      }
      body += CellOpen({r}, false, DescribeResult(*r));
      absl::StrAppend(&body, "<b>", FormatRate(*r->calls_per_s), "</b>");
      std::string sub = r->mb_per_s ? absl::StrCat(FormatMBps(*r->mb_per_s), " MB/s · ") : "";
      absl::StrAppend(&sub, r->concurrency, r->concurrency == 1 ? " caller" : " callers");
      absl::StrAppend(&body, Sub(sub), ErrorsSuffix({r}), "</td>");
    }
    body += "</tr>\n";
  }
  if (body.empty()) return "";
  return absl::StrCat(TableOpen("numbers", caption),
                      SizeHeader(view.sizes(), "implementation · mechanism"), "<tbody>", body,
                      kTableClose);
}

namespace {

// Ferry's p50 over the p50 of its counterpart `floor` ("raw", "rawpb") per mechanism and
// size, with the difference; empty if no mechanism has both.
std::string RatioToFloorTable(const ModeView& latency, absl::string_view floor,
                              absl::string_view caption) {
  std::string body;
  for (const SeriesKey& k : FerrySeries(latency)) {
    std::string row;
    bool any = false;
    for (uint64_t size : latency.sizes()) {
      const Result* f = latency.At(k, size);
      const Result* raw = latency.Counterpart(k, floor, size);
      if (f == nullptr || raw == nullptr || !f->p50_us || !raw->p50_us || *raw->p50_us <= 0) {
        row += kEmptyCell;
        continue;
      }
      any = true;
      double ratio = *f->p50_us / *raw->p50_us, delta = *f->p50_us - *raw->p50_us;
      std::string title = absl::StrCat("Ferry p50 ", FormatUs(*f->p50_us), " µs ÷ ", floor,
                                       " p50 ", FormatUs(*raw->p50_us), " µs",
                                       CounterpartNote(*f, *raw));
      absl::StrAppend(&row, CellOpen({f, raw}, false, title), "<b>", FormatRatio(ratio), "</b>",
                      Sub(absl::StrCat(delta >= 0 ? "+" : "−", FormatUs(std::abs(delta)), " µs")),
                      ErrorsSuffix({f, raw}), "</td>");
    }
    if (!any) continue;
    absl::StrAppend(&body, "<tr><th scope=\"row\">", Dot(latency.catalog(), k),
                    HtmlEscape(MechanismLabel(k.transport, k.variant)), "</th>", row, "</tr>\n");
  }
  if (body.empty()) return "";
  return absl::StrCat(TableOpen("numbers ratios", caption),
                      SizeHeader(latency.sizes(), "mechanism"), "<tbody>", body, kTableClose);
}

}  // namespace

std::string OverheadTable(const ModeView& latency) {
  return RatioToFloorTable(latency, "raw",
                           "Ferry's overhead over the raw mechanism: Ferry p50 ÷ raw p50 "
                           "(1.00× = no overhead), and the difference");
}

std::string OverheadOverMarshallingTable(const ModeView& latency) {
  return RatioToFloorTable(
      latency, "rawpb",
      "Ferry against the raw mechanism carrying the same protobuf work: Ferry p50 ÷ rawpb "
      "p50, and the difference (below 1.00× where Ferry's in-place serialization saves "
      "rawpb's copies)");
}

std::string GrpcSpeedupTable(const ModeView& latency) {
  std::string body;
  for (const SeriesKey& k : FerrySeries(latency)) {
    std::string row;
    bool any = false;
    for (uint64_t size : latency.sizes()) {
      const Result* f = latency.At(k, size);
      const Result* g = latency.Counterpart(k, "grpc", size);
      if (f == nullptr || g == nullptr || !f->p50_us || !g->p50_us || *f->p50_us <= 0) {
        row += kEmptyCell;
        continue;
      }
      any = true;
      double speedup = *g->p50_us / *f->p50_us;
      std::string title = absl::StrCat("gRPC p50 ", FormatUs(*g->p50_us), " µs ÷ Ferry p50 ",
                                       FormatUs(*f->p50_us), " µs", CounterpartNote(*f, *g));
      absl::StrAppend(&row, CellOpen({f, g}, false, title), "<b>", FormatRatio(speedup), "</b>",
                      Sub(speedup >= 1 ? "Ferry faster" : "gRPC faster"),
                      ErrorsSuffix({f, g}), "</td>");
    }
    if (!any) continue;
    absl::StrAppend(&body, "<tr><th scope=\"row\">", Dot(latency.catalog(), k),
                    HtmlEscape(MechanismLabel(k.transport, k.variant)), "</th>", row, "</tr>\n");
  }
  if (body.empty()) return "";
  return absl::StrCat(
      TableOpen("numbers ratios",
                "Ferry's speed-up over gRPC on the same transport: gRPC p50 ÷ Ferry p50"),
      SizeHeader(latency.sizes(), "transport"), "<tbody>", body, kTableClose);
}

std::string ThroughputRatioTable(const ModeView& throughput) {
  std::string body;
  for (const SeriesKey& k : FerrySeries(throughput)) {
    for (absl::string_view other : {"raw", "grpc"}) {
      std::string row;
      bool any = false;
      for (uint64_t size : throughput.sizes()) {
        const Result* f = throughput.Peak(k, size);
        SeriesKey ok{std::string(other), k.transport, k.variant};
        const Result* o = throughput.Peak(ok, size);
        if (o == nullptr) o = throughput.Peak({std::string(other), k.transport, ""}, size);
        if (f == nullptr || o == nullptr || *o->calls_per_s <= 0) {
          row += kEmptyCell;
          continue;
        }
        any = true;
        double ratio = *f->calls_per_s / *o->calls_per_s;
        std::string title = absl::StrCat("Ferry peak ", FormatRate(*f->calls_per_s), " calls/s ÷ ",
                                         other, " peak ", FormatRate(*o->calls_per_s), " calls/s",
                                         CounterpartNote(*f, *o));
        absl::StrAppend(&row, CellOpen({f, o}, false, title), "<b>", FormatRatio(ratio), "</b>",
                        ErrorsSuffix({f, o}), "</td>");
      }
      if (!any) continue;
      absl::StrAppend(&body, "<tr><th scope=\"row\">", Dot(throughput.catalog(), k),
                      HtmlEscape(MechanismLabel(k.transport, k.variant)), " <span class=\"vs\">vs ",
                      other, "</span></th>", row, "</tr>\n");
    }
  }
  if (body.empty()) return "";
  return absl::StrCat(
      TableOpen("numbers ratios",
                "Peak throughput: Ferry's calls/s ÷ the raw mechanism's and ÷ gRPC's "
                "(above 1.00× Ferry does more calls per second)"),
      SizeHeader(throughput.sizes(), "mechanism"), "<tbody>", body, kTableClose);
}

std::string FastestSection(const std::vector<FastestRow>& rows, const SeriesCatalog& catalog) {
  if (rows.empty()) return "";
  bool any_grpc = false, any_unranked = false;
  for (const FastestRow& row : rows) {
    any_grpc |= !row.grpc.empty();
    any_unranked |= !row.unranked.empty();
  }
  std::string answers = absl::StrCat(Answer("Fastest with Ferry", rows, &FastestRow::ferry),
                                     Answer("Fastest raw mechanism", rows, &FastestRow::raw),
                                     Answer("Fastest with gRPC", rows, &FastestRow::grpc));
  std::string out;
  if (!answers.empty()) absl::StrAppend(&out, "<ul class=\"answers\">", answers, "</ul>\n");

  absl::StrAppend(&out, TableOpen("fastest", "Ranking by median round trip (p50) at each size"),
                  "<thead><tr><th scope=\"col\">size</th><th scope=\"col\">fastest with "
                  "Ferry</th><th scope=\"col\">runner-up with Ferry</th><th scope=\"col\">"
                  "fastest raw mechanism</th><th scope=\"col\">runner-up raw</th>"
                  "<th scope=\"col\" class=\"num\">Ferry's best ÷ raw best</th>");
  if (any_grpc) out += "<th scope=\"col\">fastest with gRPC</th>";
  if (any_unranked) out += "<th scope=\"col\">not ranked (failed calls)</th>";
  out += "</tr></thead><tbody>";
  for (const FastestRow& row : rows) {
    absl::StrAppend(&out, "<tr><th scope=\"row\">", HtmlEscape(FormatBytes(row.size)), "</th>",
                    RankCell(catalog, row.ferry, 0), RankCell(catalog, row.ferry, 1),
                    RankCell(catalog, row.raw, 0), RankCell(catalog, row.raw, 1));
    if (!row.ferry.empty() && !row.raw.empty() && row.raw[0].p50 > 0) {
      absl::StrAppend(&out, "<td class=\"num\" title=\"",
                      HtmlEscape(absl::StrCat("Ferry's fastest p50 ", FormatUs(row.ferry[0].p50),
                                              " µs ÷ the fastest raw p50 ",
                                              FormatUs(row.raw[0].p50), " µs")),
                      "\"><b>", FormatRatio(row.ferry[0].p50 / row.raw[0].p50), "</b></td>");
    } else {
      out += kEmptyCell;
    }
    if (any_grpc) out += RankCell(catalog, row.grpc, 0);
    if (any_unranked) {
      std::vector<std::string> names;
      for (const SeriesKey& k : row.unranked) names.push_back(HtmlEscape(SeriesLabel(k)));
      absl::StrAppend(&out, names.empty() ? "<td></td>"
                                          : absl::StrCat("<td class=\"flagged\">⚠ ",
                                                         absl::StrJoin(names, ", "), "</td>"));
    }
    out += "</tr>\n";
  }
  return out + kTableClose;
}

}  // namespace ferry::bench::report
