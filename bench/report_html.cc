// Assembles the page: setup header, then one section per question the benchmark answers.
// Charts and tables come from bench/report/; this file decides what goes where and what to
// say when data is missing.
#include "bench/report_html.h"

#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "bench/report/analysis.h"
#include "bench/report/charts.h"
#include "bench/report/format.h"
#include "bench/report/style.h"
#include "bench/report/tables.h"

namespace ferry::bench {
namespace {

using report::FormatBytes;
using report::FormatCount;
using report::FormatRate;
using report::HtmlEscape;
using report::ModeView;

constexpr absl::string_view kModes[] = {"latency", "throughput", "open_loop"};

struct Section {
  std::string id;
  std::string title;
  bool has_data;
  std::string body;  // HTML
};

bool Requested(const Setup& setup, absl::string_view mode) {
  for (const std::string& m : setup.modes) {
    if (m == mode) return true;
  }
  return false;
}

std::string Missing(absl::string_view text) {
  return absl::StrCat("<p class=\"missing\">", HtmlEscape(text), "</p>\n");
}

// Why a mode's section is empty: it was not run, or it was run and produced nothing.
std::string MissingMode(const Setup& setup, absl::string_view mode, absl::string_view what) {
  if (Requested(setup, mode)) {
    return Missing(absl::StrCat("The run requested ", mode,
                                " mode but recorded no results for it, so there is no ", what,
                                " to show."));
  }
  return Missing(absl::StrCat("This run did not measure ", mode, " mode, so there is no ", what,
                              " to show."));
}

// ---- Header -------------------------------------------------------------------------------

// Whether a mode-specific setting belongs in the header: it has a value, or one of its modes
// was run (or the modes are unknown), in which case a missing value is worth pointing out.
bool Applies(const Setup& setup, std::initializer_list<absl::string_view> modes,
             bool has_value) {
  if (has_value || setup.modes.empty()) return true;
  for (absl::string_view m : modes) {
    if (Requested(setup, m)) return true;
  }
  return false;
}

// "through Ferry, through the raw mechanism with no RPC layer, and through gRPC", limited
// to the implementations the run measured.
std::string ImplsPhrase(const BenchReport& report) {
  std::set<std::string> impls;
  for (const Result& r : report.results) impls.insert(r.impl);
  std::vector<std::string> parts;
  if (impls.empty() || impls.count("ferry")) parts.push_back("through Ferry");
  if (impls.count("raw")) parts.push_back("through the raw mechanism with no RPC layer");
  if (impls.count("rawpb")) {
    parts.push_back("through the raw mechanism carrying the call's protobuf work");
  }
  if (impls.count("grpc")) parts.push_back("through gRPC");
  if (parts.size() == 1) return parts[0];
  return absl::StrCat(absl::StrJoin(parts.begin(), parts.end() - 1, ", "), " and ",
                      parts.back());
}

std::string SetupItem(absl::string_view label, const std::string& value) {
  bool known = !value.empty();
  return absl::StrCat("<div><dt>", HtmlEscape(label), "</dt><dd",
                      known ? "" : " class=\"unknown\"", ">",
                      HtmlEscape(known ? value : "not recorded"), "</dd></div>");
}

std::string Header(const BenchReport& report) {
  const Setup& s = report.setup;
  std::vector<std::string> sizes, callers;
  for (uint64_t size : s.sizes) sizes.push_back(FormatBytes(size));
  for (int c : s.concurrency) callers.push_back(absl::StrCat(c));
  std::string iterations;
  if (s.iterations > 0) {
    iterations = absl::StrCat(FormatCount(s.iterations), " measured");
    if (s.warmup > 0) absl::StrAppend(&iterations, " + ", FormatCount(s.warmup), " warm-up");
  }
  std::string title = "ferry-bench report";
  std::vector<std::string> parts;
  for (const std::string& p :
       {s.ferry_version.empty() ? std::string() : "Ferry " + s.ferry_version, s.date,
        s.hostname}) {
    if (!p.empty()) parts.push_back(p);
  }
  std::string subtitle = absl::StrJoin(parts, " · ");

  std::string out = absl::StrCat(
      "<header><h1>", HtmlEscape(title), "</h1>",
      "<p class=\"lede\">", subtitle.empty() ? "" : HtmlEscape(subtitle) + " — ",
      "Round-trip time of one call (request there, reply back) over each IPC mechanism, ",
      HtmlEscape(ImplsPhrase(report)), ".</p>\n",
      "<dl class=\"setup\">");
  absl::StrAppend(
      &out, SetupItem("CPU", s.cpu_model),
      SetupItem("cores", s.cores > 0 ? absl::StrCat(s.cores) : ""),
      SetupItem("kernel", s.kernel), SetupItem("host", s.hostname),
      SetupItem("pinning", s.pinning), SetupItem("server", s.location),
      SetupItem("payload sizes (each way)", absl::StrJoin(sizes, ", ")),
      Applies(s, {"throughput"}, !callers.empty())
          ? SetupItem("callers (throughput)", absl::StrJoin(callers, ", "))
          : "",
      Applies(s, {"latency"}, !iterations.empty()) ? SetupItem("latency iterations", iterations)
                                                   : "",
      Applies(s, {"throughput", "open_loop"}, s.duration_s > 0)
          ? SetupItem("duration per point",
                      s.duration_s > 0 ? absl::StrCat(s.duration_s, " s") : "")
          : "",
      Applies(s, {"open_loop"}, s.open_loop_rate > 0)
          ? SetupItem("open-loop offered rate",
                      s.open_loop_rate > 0
                          ? absl::StrCat(FormatRate(s.open_loop_rate), " calls/s")
                          : "")
          : "",
      SetupItem("modes", absl::StrJoin(s.modes, ", ")),
      SetupItem("Ferry version", s.ferry_version), SetupItem("date", s.date));
  return out + "</dl></header>\n";
}

// Every result with failed calls, listed once at the top so none goes unnoticed.
std::string ErrorBanner(const BenchReport& report) {
  std::string items;
  uint64_t total = 0;
  int count = 0;
  for (const Result& r : report.results) {
    if (r.errors == 0) continue;
    total += r.errors;
    ++count;
    absl::StrAppend(&items, "<li>", HtmlEscape(r.mode), ": ",
                    HtmlEscape(report::SeriesLabel(report::KeyOf(r))), ", ",
                    HtmlEscape(FormatBytes(r.size)),
                    r.concurrency != 1 ? absl::StrCat(", ", r.concurrency, " callers") : "",
                    " — <strong>", FormatCount(r.errors), " failed calls</strong></li>");
  }
  if (count == 0) return "";
  return absl::StrCat("<div class=\"alert\" role=\"alert\" id=\"failed-calls\"><strong>⚠ ",
                      count, count == 1 ? " result" : " results", " had failed calls (",
                      FormatCount(total),
                      " in all).</strong> Their figures describe only the calls that succeeded; "
                      "they are ringed in red in the charts and left out of the ranking."
                      "<ul>", items, "</ul></div>\n");
}

// ---- Sections -----------------------------------------------------------------------------

Section FastestSection(const BenchReport& report, const ModeView& latency) {
  Section s{"fastest", "Which mechanism is fastest at which size?", false, ""};
  s.body = absl::StrCat(
      "<p class=\"note\">Ranked by median round trip (p50) in latency mode, one caller. "
      "\"Raw\" is the bare mechanism without Ferry's framing, dispatch and marshalling; the "
      "ratios say how much slower the runner-up is than the winner. Results with failed calls "
      "are not ranked.</p>\n");
  if (latency.empty() || !latency.Has(&Result::p50_us)) {
    s.body += latency.empty() ? MissingMode(report.setup, "latency", "ranking")
                              : Missing("The latency results have no p50, so nothing can be "
                                        "ranked.");
    return s;
  }
  s.has_data = true;
  s.body += report::FastestSection(report::FastestBySize(latency), latency.catalog());
  return s;
}

// Bars, curves and the table for a latency-like mode (latency, open_loop).
std::string LatencyBody(const ModeView& view, absl::string_view id, absl::string_view what) {
  std::string out;
  std::vector<report::SeriesKey> with_p50 = report::SeriesWith(view, &Result::p50_us);
  std::string bars = report::LatencyBarsChart(
      view, absl::StrCat(id, "-bars"), absl::StrCat("Median round trip by payload size — ", what),
      "bar = p50, whisker = p99; hover a bar for every figure");
  if (bars.empty()) {
    out += Missing(absl::StrCat("No ", what, " result has a p50, so there is no bar chart."));
  } else {
    absl::StrAppend(&out, "<figure class=\"chart\">", bars, "</figure>\n",
                    report::Legend(view, with_p50, absl::StrCat(id, "-bars")));
  }

  absl::StrAppend(&out, "<h3>Latency by percentile</h3>\n<p class=\"note\">One panel per size; "
                        "the horizontal axis spaces 90, 99, 99.9 and 99.99 evenly, so the tail "
                        "gets as much room as the median.</p>\n");
  std::string panels = report::PercentilePanels(view, absl::StrCat(id, "-pct"));
  if (panels.empty()) {
    out += Missing("No result has a percentile curve or percentile figures, so there are no "
                   "percentile curves.");
  } else {
    std::vector<report::SeriesKey> with_curve, without;
    for (const report::SeriesKey& key : view.series()) {
      bool any = false;
      for (uint64_t size : view.sizes()) {
        const Result* r = view.At(key, size);
        if (r != nullptr && !report::CurveOf(*r).empty()) any = true;
      }
      (any ? with_curve : without).push_back(key);
    }
    absl::StrAppend(&out, report::Legend(view, with_curve, absl::StrCat(id, "-pct")), panels);
    if (!without.empty()) {
      std::vector<std::string> names;
      for (const auto& k : without) names.push_back(report::SeriesLabel(k));
      out += Missing(absl::StrCat("No percentile data for: ", absl::StrJoin(names, ", "), "."));
    }
  }

  absl::StrAppend(&out, "<h3>Numbers</h3>\n",
                  report::LatencyTable(view, absl::StrCat(
                                                 "Median round trip (p50, µs) with p99 "
                                                 "underneath; the fastest error-free result "
                                                 "of each size is highlighted")));
  return out;
}

Section LatencySection(const BenchReport& report, const ModeView& latency) {
  Section s{"latency", "Latency", !latency.empty(), ""};
  if (latency.empty()) {
    s.body = MissingMode(report.setup, "latency", "latency chart or table");
    return s;
  }
  s.body = absl::StrCat(
      "<p class=\"note\">One caller, one call in flight: each call waits for the previous "
      "reply. This is the cost of a single call, not the capacity of a mechanism.</p>\n",
      LatencyBody(latency, "latency", "latency mode"));
  return s;
}

Section OverheadSection(const BenchReport& report, const ModeView& latency,
                        const ModeView& throughput) {
  Section s{"overhead", "What the RPC layer costs: Ferry against raw and gRPC", false, ""};
  s.body =
      "<p class=\"note\">Each ratio compares results on the same mechanism and size. Against "
      "raw it is the price of Ferry's framing, dispatch and Protocol Buffers marshalling; "
      "against gRPC it is what Ferry saves over the common alternative.</p>\n";
  if (latency.empty() && throughput.empty()) {
    s.body += MissingMode(report.setup, "latency", "ratio");
    return s;
  }
  std::string overhead = report::OverheadTable(latency);
  std::string marshalling = report::OverheadOverMarshallingTable(latency);
  std::string grpc = report::GrpcSpeedupTable(latency);
  std::string tput = report::ThroughputRatioTable(throughput);
  s.has_data = !overhead.empty() || !grpc.empty() || !tput.empty();
  if (!latency.empty()) {
    s.body += overhead.empty() ? Missing("No mechanism has both a Ferry and a raw latency result "
                                         "with a p50, so there is no overhead to compute.")
                               : overhead;
    s.body += marshalling;  // only with rawpb rows
    s.body += grpc.empty() ? Missing("No transport has both a Ferry and a gRPC latency result "
                                     "with a p50, so there is no speed-up to compute.")
                           : grpc;
  }
  if (!tput.empty()) s.body += tput;
  return s;
}

Section ThroughputSection(const BenchReport& report, const ModeView& view) {
  Section s{"throughput", "Throughput against concurrency", !view.empty(), ""};
  if (view.empty()) {
    s.body = MissingMode(report.setup, "throughput", "throughput chart or table");
    return s;
  }
  std::string dur = report.setup.duration_s > 0
                        ? absl::StrCat(" for ", report.setup.duration_s, " s per point")
                        : "";
  s.body = absl::StrCat("<p class=\"note\">Callers issue calls back to back", dur,
                        "; each point is the completed calls per second at that number of "
                        "callers in flight.</p>\n");
  const std::pair<std::optional<double> Result::*, absl::string_view> figures[] = {
      {&Result::calls_per_s, "calls/s"}, {&Result::mb_per_s, "MB/s"}};
  for (const auto& [figure, what] : figures) {
    absl::StrAppend(&s.body, "<h3>", HtmlEscape(what), "</h3>\n");
    std::string id = what == "calls/s" ? "tput-calls" : "tput-mbps";
    std::string panels = report::ThroughputPanels(view, id, figure, what);
    if (panels.empty()) {
      s.body += Missing(absl::StrCat("No throughput result records ", what, "."));
      continue;
    }
    absl::StrAppend(&s.body, report::Legend(view, report::SeriesWith(view, figure), id), panels);
  }
  s.body += "<h3>Numbers</h3>\n";
  std::string table = report::ThroughputTable(
      view, "Peak calls/s over all caller counts, with MB/s and the callers that reached it");
  s.body += table.empty() ? Missing("No throughput result records calls/s.") : table;
  return s;
}

Section OpenLoopSection(const BenchReport& report, const ModeView& view) {
  Section s{"open-loop", "Open-loop latency", !view.empty(), ""};
  if (view.empty()) {
    s.body = MissingMode(report.setup, "open_loop", "open-loop chart or table");
    return s;
  }
  std::string rate = report.setup.open_loop_rate > 0
                         ? absl::StrCat(" at ", FormatRate(report.setup.open_loop_rate),
                                        " calls/s")
                         : "";
  s.body = absl::StrCat(
      "<p class=\"note\">Calls are sent on a fixed schedule", rate,
      " whether or not earlier ones have returned, and latency counts from the scheduled send "
      "time, so queueing shows up in the tail instead of being hidden (no coordinated "
      "omission).</p>\n",
      LatencyBody(view, "open-loop", "open-loop mode"));
  return s;
}

// Results of modes this page does not know, counted so they are not silently dropped.
std::string UnknownModes(const BenchReport& report) {
  std::set<std::string> names;
  int count = 0;
  for (const Result& r : report.results) {
    bool known = false;
    for (absl::string_view m : kModes) known |= r.mode == m;
    if (!known) {
      names.insert(r.mode);
      ++count;
    }
  }
  if (count == 0) return "";
  return Missing(absl::StrCat(count, " results of unknown mode ",
                              absl::StrJoin(names, ", "), " are not shown in this report."));
}

}  // namespace

std::string RenderHtmlReport(const BenchReport& report) {
  report::SeriesCatalog catalog(report);
  ModeView latency(report, "latency", catalog);
  ModeView throughput(report, "throughput", catalog);
  ModeView open_loop(report, "open_loop", catalog);

  std::vector<Section> sections;
  sections.push_back(FastestSection(report, latency));
  sections.push_back(LatencySection(report, latency));
  sections.push_back(OverheadSection(report, latency, throughput));
  sections.push_back(ThroughputSection(report, throughput));
  sections.push_back(OpenLoopSection(report, open_loop));

  std::string title = "ferry-bench report";
  if (!report.setup.date.empty()) absl::StrAppend(&title, " — ", report.setup.date);
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"ferry-bench\">\n<title>",
      HtmlEscape(title), "</title>\n<style>", report::kStylesheet, "</style>\n</head>\n<body>\n<main>\n",
      Header(report), ErrorBanner(report), "<nav class=\"toc\"><ol>");
  for (const Section& s : sections) {
    absl::StrAppend(&out, "<li><a href=\"#", s.id, "\"", s.has_data ? "" : " class=\"absent\"",
                    ">", HtmlEscape(s.title), "</a></li>");
  }
  out += "</ol></nav>\n";
  if (report.results.empty()) {
    out += Missing("This report has no results at all: the run measured nothing.");
  }
  for (const Section& s : sections) {
    absl::StrAppend(&out, "<section id=\"", s.id, "\" data-has-data=\"",
                    s.has_data ? "true" : "false", "\">\n<h2>", HtmlEscape(s.title), "</h2>\n",
                    s.body, "</section>\n");
  }
  absl::StrAppend(&out, UnknownModes(report),
                  "<footer>Generated by ferry-bench from ", FormatCount(report.results.size()),
                  " results. Every figure is a full round trip. This page is self-contained: it "
                  "loads nothing from the network. Hover bars, points and table cells for exact "
                  "values.</footer>\n</main>\n</body>\n</html>\n");
  return out;
}

}  // namespace ferry::bench
