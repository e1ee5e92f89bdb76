// Structure tests of the rendered page on hand-built reports: which sections and charts
// appear, how many series and marks each chart draws, escaping, flagged errors, and that
// the "fastest mechanism" answers follow the numbers.
#include "bench/report_html.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "bench/report/analysis.h"
#include "bench/report/fixtures.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry::bench {
namespace {

namespace fx = report::fixtures;
using ::testing::HasSubstr;
using ::testing::Not;

int Count(absl::string_view haystack, absl::string_view needle) {
  int n = 0;
  for (size_t pos = haystack.find(needle); pos != absl::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// The markup of one chart SVG, from its opening tag to its </svg>; empty if absent.
std::string Chart(const std::string& html, absl::string_view id) {
  size_t start = html.find(absl::StrCat("<svg class=\"chart-svg\" id=\"", id, "\""));
  if (start == std::string::npos) return "";
  size_t end = html.find("</svg>", start);
  return html.substr(start, end - start);
}

// The body of one <section>.
std::string SectionOf(const std::string& html, absl::string_view id) {
  size_t start = html.find(absl::StrCat("<section id=\"", id, "\""));
  if (start == std::string::npos) return "";
  size_t end = html.find("</section>", start);
  return html.substr(start, end - start);
}

bool HasData(const std::string& html, absl::string_view id) {
  return absl::StrContains(html,
                           absl::StrCat("<section id=\"", id, "\" data-has-data=\"true\""));
}

int CountResults(const BenchReport& report, absl::string_view mode) {
  int n = 0;
  for (const Result& r : report.results) n += r.mode == mode && r.p50_us.has_value();
  return n;
}

TEST(RenderHtmlReportTest, FullReportHasEverySectionAndChart) {
  BenchReport report = fx::FullReport();
  std::string html = RenderHtmlReport(report);
  for (absl::string_view id : {"fastest", "latency", "overhead", "throughput", "open-loop"}) {
    EXPECT_TRUE(HasData(html, id)) << id;
  }
  EXPECT_THAT(html, Not(HasSubstr("class=\"missing\"")));
  // One bar chart per latency-like mode, one percentile panel per size, one throughput panel
  // per size and figure.
  EXPECT_EQ(Count(html, "data-chart=\"latency-bars\""), 2);
  EXPECT_EQ(Count(html, "data-chart=\"percentiles\""), 4 + 2);
  EXPECT_EQ(Count(html, "data-chart=\"throughput\""), 4 * 2);

  // 14 series in latency mode: ferry and raw on six mechanisms, gRPC on two.
  std::string bars = Chart(html, "latency-bars");
  ASSERT_FALSE(bars.empty());
  EXPECT_EQ(Count(bars, "class=\"series\""), 14);
  EXPECT_EQ(Count(bars, "class=\"mark bar"), CountResults(report, "latency"));
  EXPECT_EQ(Count(bars, "class=\"whisker\""), CountResults(report, "latency"));
  // udp is not measured at 256 KiB: two empty slots, drawn as such.
  EXPECT_EQ(Count(bars, "class=\"no-result\""), 2);
  EXPECT_EQ(Count(Chart(html, "open-loop-bars"), "class=\"series\""), 5);

  // Percentile panel at 64 B: one line per series, five standard percentiles each.
  std::string pct = Chart(html, "latency-pct-64");
  EXPECT_EQ(Count(pct, "class=\"mark line\""), 14);
  EXPECT_EQ(Count(pct, "class=\"mark point"), 14 * 5);
  EXPECT_EQ(Count(Chart(html, "latency-pct-262144"), "class=\"mark line\""), 12);

  // Throughput: 14 lines, one point per caller count.
  std::string tput = Chart(html, "tput-calls-64");
  EXPECT_EQ(Count(tput, "class=\"mark line\""), 14);
  EXPECT_EQ(Count(tput, "class=\"mark point"), 14 * 5);
  EXPECT_FALSE(Chart(html, "tput-mbps-1024").empty());
}

TEST(RenderHtmlReportTest, ChartsHaveAxesTitlesLegendsAndTooltips) {
  std::string html = RenderHtmlReport(fx::FullReport());
  std::string bars = Chart(html, "latency-bars");
  EXPECT_THAT(bars, HasSubstr("<title>Median round trip by payload size"));
  EXPECT_THAT(bars, HasSubstr("class=\"chart-title\""));
  EXPECT_THAT(bars, HasSubstr("round trip, µs, log scale"));
  EXPECT_THAT(bars, HasSubstr(">64 B</text>"));
  EXPECT_THAT(bars, HasSubstr(">256 KiB</text>"));
  // Exact values in the tooltip of the first bar (ferry · uds at 64 B).
  EXPECT_THAT(bars, HasSubstr("<title>ferry · uds, 64 B\np50 12.2 µs\np90"));
  EXPECT_THAT(Chart(html, "latency-pct-64"), HasSubstr(">99.9</text>"));
  EXPECT_THAT(Chart(html, "tput-calls-64"), HasSubstr("callers in flight (log scale)"));
  EXPECT_EQ(Count(SectionOf(html, "latency"), "<div class=\"legend\">"), 2);
  // Raw bars are hatched through a pattern defined in the same chart.
  EXPECT_THAT(bars, HasSubstr("<pattern id=\"latency-bars-hatch-0\""));
  EXPECT_THAT(bars, HasSubstr("fill=\"url(#latency-bars-hatch-0)\""));
}

TEST(RenderHtmlReportTest, PageIsSelfContained) {
  std::string html = RenderHtmlReport(fx::FullReport());
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("<style>"));
  for (absl::string_view bad : {"<script", "<link", "<img", "@import", "src=", "href=\"http",
                                "url(http", "url(//", "https://"}) {
    EXPECT_THAT(html, Not(HasSubstr(bad))) << bad;
  }
  // The only absolute URL is the SVG namespace name, which is never fetched.
  EXPECT_EQ(Count(html, "http://"), Count(html, "xmlns=\"http://www.w3.org/2000/svg\""));
}

TEST(RenderHtmlReportTest, HeaderShowsTheSetup) {
  std::string html = RenderHtmlReport(fx::FullReport());
  for (absl::string_view text :
       {"Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Linux 6.1.0-27-cloud-amd64",
        "client=cpu0 server=cpu1", "64 B, 1 KiB, 16 KiB, 256 KiB", "1, 2, 4, 8, 16",
        "100,000 measured + 10,000 warm-up", "5 s", "20.0k calls/s",
        "v0.3.0-12-gabc1234", "2025-11-22T04:30:00Z", "latency, throughput, open_loop"}) {
    EXPECT_THAT(html, HasSubstr(text));
  }
  EXPECT_THAT(html, HasSubstr("through Ferry, through the raw mechanism with no RPC layer and "
                              "through gRPC."));
  BenchReport bare;
  EXPECT_THAT(RenderHtmlReport(bare), HasSubstr("not recorded"));
  // Settings of modes the run did not measure are left out rather than "not recorded".
  std::string latency_only = RenderHtmlReport(fx::VariantsReport());
  EXPECT_THAT(latency_only, Not(HasSubstr("callers (throughput)")));
  EXPECT_THAT(latency_only, Not(HasSubstr("open-loop offered rate")));
  EXPECT_THAT(latency_only, HasSubstr("latency iterations"));
  EXPECT_THAT(latency_only, Not(HasSubstr("through gRPC")));
}

TEST(RenderHtmlReportTest, LatencyOnlySaysWhatIsMissing) {
  std::string html = RenderHtmlReport(fx::LatencyOnlyReport());
  EXPECT_TRUE(HasData(html, "fastest"));
  EXPECT_TRUE(HasData(html, "latency"));
  EXPECT_TRUE(HasData(html, "overhead"));
  EXPECT_FALSE(HasData(html, "throughput"));
  EXPECT_FALSE(HasData(html, "open-loop"));
  EXPECT_THAT(SectionOf(html, "throughput"),
              HasSubstr("This run did not measure throughput mode"));
  EXPECT_THAT(SectionOf(html, "open-loop"), HasSubstr("did not measure open_loop mode"));
  EXPECT_EQ(Count(html, "data-chart=\"throughput\""), 0);
  EXPECT_EQ(Count(html, "<svg class=\"chart-svg\""), 1 + 4);
  EXPECT_THAT(html, Not(HasSubstr("role=\"alert\"")));
  EXPECT_THAT(html, Not(HasSubstr("class=\"mark bar flagged")));
}

TEST(RenderHtmlReportTest, RequestedModeWithoutResultsIsReported) {
  BenchReport report = fx::LatencyOnlyReport();
  report.setup.modes = {"latency", "throughput"};
  std::string html = RenderHtmlReport(report);
  EXPECT_THAT(SectionOf(html, "throughput"),
              HasSubstr("requested throughput mode but recorded no results"));
}

TEST(RenderHtmlReportTest, MissingFiguresDegradeWithoutEmptyCharts) {
  // Latency results with a curve but no p-figures: curves are drawn, bars cannot be.
  BenchReport report = fx::LatencyOnlyReport();
  for (Result& r : report.results) r.p50_us.reset();
  std::string html = RenderHtmlReport(report);
  EXPECT_EQ(Count(html, "data-chart=\"latency-bars\""), 0);
  EXPECT_THAT(html, HasSubstr("No latency mode result has a p50"));
  EXPECT_THAT(SectionOf(html, "fastest"), HasSubstr("have no p50, so nothing can be ranked"));
  EXPECT_EQ(Count(html, "data-chart=\"percentiles\""), 4);

  // No curve and no figures at all: no percentile panels either.
  for (Result& r : report.results) {
    r.percentiles.clear();
    r.p90_us.reset();
    r.p99_us.reset();
    r.p999_us.reset();
  }
  html = RenderHtmlReport(report);
  EXPECT_EQ(Count(html, "<svg class=\"chart-svg\""), 0);
  EXPECT_THAT(html, HasSubstr("there are no percentile curves"));

  // Throughput without MB/s: the calls/s panels stay, the MB/s ones say why they are gone.
  BenchReport full = fx::FullReport();
  for (Result& r : full.results) r.mb_per_s.reset();
  html = RenderHtmlReport(full);
  EXPECT_EQ(Count(html, "data-chart=\"throughput\""), 4);
  EXPECT_THAT(SectionOf(html, "throughput"), HasSubstr("No throughput result records MB/s."));
}

TEST(RenderHtmlReportTest, EmptyReportRenders) {
  std::string html = RenderHtmlReport(BenchReport{});
  EXPECT_THAT(html, HasSubstr("no results at all"));
  EXPECT_EQ(Count(html, "<svg class=\"chart-svg\""), 0);
  EXPECT_THAT(html, HasSubstr("</html>"));
}

TEST(RenderHtmlReportTest, ErrorsAreFlaggedEverywhere) {
  std::string html = RenderHtmlReport(fx::ErrorsReport());
  EXPECT_THAT(html, HasSubstr("role=\"alert\""));
  EXPECT_THAT(html, HasSubstr("1 result had failed calls (5 in all)"));
  EXPECT_THAT(html, HasSubstr("latency: ferry · shm (backing=memfd, wake=spin), 64 B — "
                              "<strong>5 failed calls</strong>"));
  std::string bars = Chart(html, "latency-bars");
  EXPECT_EQ(Count(bars, "class=\"mark bar flagged\""), 1);
  EXPECT_EQ(Count(bars, "class=\"flag-badge\""), 1);
  EXPECT_THAT(bars, HasSubstr("⚠ 5 failed calls</title>"));
  EXPECT_EQ(Count(Chart(html, "latency-pct-64"), "class=\"mark point flagged\""), 5);
  EXPECT_THAT(SectionOf(html, "latency"), HasSubstr("⚠ 5 failed</span>"));
  EXPECT_THAT(SectionOf(html, "latency"), HasSubstr("<li class=\"flagged\">"));
  // The failed result does not win the ranking, and the table says why it is missing.
  std::string fastest = SectionOf(html, "fastest");
  EXPECT_THAT(fastest, HasSubstr("not ranked (failed calls)"));
  EXPECT_THAT(fastest,
              HasSubstr("<td class=\"flagged\">⚠ ferry · shm (backing=memfd, wake=spin)</td>"));
}

TEST(RenderHtmlReportTest, FastestAnswersComeFromTheNumbers) {
  std::string html = RenderHtmlReport(fx::FullReport());
  std::string fastest = SectionOf(html, "fastest");
  EXPECT_THAT(fastest, HasSubstr("Fastest with Ferry: <strong>shm (backing=memfd, wake=spin)"
                                 "</strong> from 64 B to 16 KiB and <strong>shm "
                                 "(backing=memfd, wake=futex)</strong> at 256 KiB."));
  EXPECT_THAT(fastest, HasSubstr("Fastest with gRPC: <strong>uds</strong> at every measured "
                                 "size (64 B to 256 KiB)."));

  // Make Ferry over uds the fastest at 64 B: the answer and the table follow.
  BenchReport report = fx::FullReport();
  for (Result& r : report.results) {
    if (r.mode == "latency" && r.impl == "ferry" && r.transport == "uds" && r.size == 64) {
      r = fx::LatencyResult("ferry", "uds", "", 64, 0.9);
    }
  }
  fastest = SectionOf(RenderHtmlReport(report), "fastest");
  EXPECT_THAT(fastest, HasSubstr("Fastest with Ferry: <strong>uds</strong> at 64 B, "
                                 "<strong>shm (backing=memfd, wake=spin)</strong> from 1 KiB "
                                 "to 16 KiB and <strong>shm (backing=memfd, wake=futex)"
                                 "</strong> at 256 KiB."));
  // The raw ranking did not move.
  EXPECT_THAT(fastest, HasSubstr("Fastest raw mechanism: <strong>shm (backing=memfd, "
                                 "wake=spin)</strong> from 64 B to 16 KiB"));
  // 64 B row: uds wins at 0.900 µs; the runner-up is shm spin at 3.80 µs, 4.22x slower.
  EXPECT_THAT(fastest, HasSubstr("uds<span class=\"sub\">p50 0.900 µs</span>"));
  EXPECT_THAT(fastest, HasSubstr("shm (backing=memfd, wake=spin)<span class=\"sub\">p50 3.80 "
                                 "µs · 4.22× the winner&#39;s</span>"));
}

TEST(RenderHtmlReportTest, RatiosCompareTheSameMechanism) {
  BenchReport report;
  report.results = {fx::LatencyResult("ferry", "uds", "", 64, 12),
                    fx::LatencyResult("raw", "uds", "", 64, 8),
                    fx::LatencyResult("grpc", "uds", "", 64, 60),
                    fx::LatencyResult("ferry", "tcp", "", 64, 20)};
  std::string overhead = SectionOf(RenderHtmlReport(report), "overhead");
  EXPECT_THAT(overhead, HasSubstr("<b>1.50×</b><span class=\"sub\">+4.00 µs</span>"));
  EXPECT_THAT(overhead, HasSubstr("<b>5.00×</b><span class=\"sub\">Ferry faster</span>"));
  // tcp has neither raw nor gRPC: no row for it.
  EXPECT_THAT(overhead, Not(HasSubstr("tcp")));
}

// rawpb rows (the raw mechanism carrying the protobuf work) add a table of Ferry against
// them, and a legend entry; without them neither appears.
TEST(RenderHtmlReportTest, ProtobufFloorRowsGetTheirOwnRatioTable) {
  BenchReport report;
  report.results = {fx::LatencyResult("ferry", "uds", "", 64, 12),
                    fx::LatencyResult("raw", "uds", "", 64, 8)};
  EXPECT_THAT(SectionOf(RenderHtmlReport(report), "overhead"), Not(HasSubstr("rawpb")));
  report.results.push_back(fx::LatencyResult("rawpb", "uds", "", 64, 10));
  const std::string html = RenderHtmlReport(report);
  const std::string overhead = SectionOf(html, "overhead");
  EXPECT_THAT(overhead, HasSubstr("Ferry p50 ÷ rawpb p50"));
  EXPECT_THAT(overhead, HasSubstr("<b>1.20×</b><span class=\"sub\">+2.00 µs</span>"));
  EXPECT_THAT(overhead, HasSubstr("<b>1.50×</b><span class=\"sub\">+4.00 µs</span>"));
  EXPECT_THAT(SectionOf(html, "latency"), HasSubstr("translucent bar = rawpb"));
}

TEST(RenderHtmlReportTest, VariantsAreSeparateSeriesWithTheirOwnColours) {
  std::string html = RenderHtmlReport(fx::VariantsReport());
  std::string bars = Chart(html, "latency-bars");
  EXPECT_EQ(Count(bars, "class=\"series\""), 4);
  EXPECT_THAT(bars, HasSubstr("data-series=\"ferry · shm (backing=memfd, wake=spin)\""));
  EXPECT_THAT(bars, HasSubstr("data-series=\"raw · shm (backing=memfd, wake=futex)\""));
  // Colour is per mechanism: spin is the first palette colour, futex the second.
  EXPECT_THAT(bars, HasSubstr("fill=\"#0072B2\""));
  EXPECT_THAT(bars, HasSubstr("fill=\"#D55E00\""));
  EXPECT_THAT(SectionOf(html, "overhead"), HasSubstr("shm (backing=memfd, wake=futex)</th>"));
  EXPECT_EQ(Count(SectionOf(html, "latency"), "<li>"), 4 + 4);  // bars legend + curves legend
}

TEST(RenderHtmlReportTest, EscapesEveryText) {
  std::string html = RenderHtmlReport(fx::HostileReport());
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("<b>\"")));
  EXPECT_THAT(html, Not(HasSubstr("host<b>")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot; "
                              "&#39;cpu&#39;"));
  EXPECT_THAT(html, HasSubstr("data-series=\"ferry · uds&lt;img src=x&gt; (a=&quot;1&quot;, "
                              "b=&lt;2&gt;&amp;c)\""));
}

TEST(RenderHtmlReportTest, UnknownModesAreCountedNotDropped) {
  BenchReport report = fx::LatencyOnlyReport();
  Result odd = report.results[0];
  odd.mode = "burst";
  report.results.push_back(odd);
  EXPECT_THAT(RenderHtmlReport(report), HasSubstr("1 results of unknown mode burst"));
}

TEST(RenderHtmlReportTest, IsDeterministic) {
  EXPECT_EQ(RenderHtmlReport(fx::FullReport()), RenderHtmlReport(fx::FullReport()));
}

}  // namespace
}  // namespace ferry::bench
