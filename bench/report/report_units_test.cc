// Unit tests of the report's building blocks: formatting, scales, the analysis that picks
// series, counterparts and winners, and the PNG decoder the screenshot test relies on.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/report/analysis.h"
#include "bench/report/fixtures.h"
#include "bench/report/format.h"
#include "bench/report/png.h"
#include "bench/report/svg.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry::bench::report {
namespace {

using ::testing::ElementsAre;

TEST(FormatTest, Escapes) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(HtmlEscape("µs · ok"), "µs · ok");
}

TEST(FormatTest, Numbers) {
  EXPECT_EQ(FormatBytes(64), "64 B");
  EXPECT_EQ(FormatBytes(1024), "1 KiB");
  EXPECT_EQ(FormatBytes(1 << 20), "1 MiB");
  EXPECT_EQ(FormatBytes(1500), "1,500 B");
  EXPECT_EQ(FormatUs(0.4123), "0.412");
  EXPECT_EQ(FormatUs(4.123), "4.12");
  EXPECT_EQ(FormatUs(41.23), "41.2");
  EXPECT_EQ(FormatUs(4123.4), "4,123");
  EXPECT_EQ(FormatRate(812), "812");
  EXPECT_EQ(FormatRate(81234), "81.2k");
  EXPECT_EQ(FormatRate(1234567), "1.23M");
  EXPECT_EQ(FormatRatio(1.234), "1.23×");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatTick(5000), "5,000");
  EXPECT_EQ(FormatTick(20000), "20k");
  EXPECT_EQ(FormatTick(1e6), "1M");
  EXPECT_EQ(FormatTick(0.25), "0.25");
}

std::vector<std::string> Labels(const Scale& s) {
  std::vector<std::string> out;
  for (const Tick& t : s.Ticks(FormatTick)) {
    if (!t.label.empty()) out.push_back(t.label);
  }
  return out;
}

TEST(ScaleTest, LinearStartsAtZeroWithRoundTicks) {
  Scale s = Scale::Auto(3, 9);  // spans 3x: linear
  EXPECT_EQ(s.kind(), Scale::Kind::kLinear);
  EXPECT_EQ(s.lo(), 0);
  EXPECT_EQ(s.hi(), 10);
  EXPECT_THAT(Labels(s), ElementsAre("0", "2", "4", "6", "8", "10"));
  s.SetRange(100, 0);  // y axes run upwards
  EXPECT_DOUBLE_EQ(s.Map(5), 50);
}

TEST(ScaleTest, LogWhenValuesSpanOrdersOfMagnitude) {
  Scale s = Scale::Auto(3, 700);
  EXPECT_TRUE(s.is_log());
  EXPECT_EQ(s.lo(), 2);     // bounds on the 1-2-5 ladder
  EXPECT_EQ(s.hi(), 1000);
  EXPECT_THAT(Labels(s), ElementsAre("2", "5", "10", "20", "50", "100", "200", "500", "1,000"));
  s.SetRange(0, 300);
  EXPECT_NEAR(s.Map(20), 300 / std::log10(500.0), 1e-9);
  // Many decades: label only the powers of ten.
  EXPECT_THAT(Labels(Scale::Log10(1, 1e5)), ElementsAre("1", "10", "100", "1,000", "10k",
                                                        "100k"));
}

TEST(ScaleTest, NinesSpaceTheTailEvenly) {
  EXPECT_NEAR(Nines(90), 1, 1e-12);
  EXPECT_NEAR(Nines(99.9), 3, 1e-9);
  Scale s = Scale::Percentiles(4);
  s.SetRange(0, 400);
  EXPECT_NEAR(s.Map(Nines(99)), 200, 1e-9);
  EXPECT_THAT(Labels(s), ElementsAre("0", "50", "90", "99", "99.9", "99.99"));
}

TEST(ScaleTest, ExplicitTicks) {
  Scale s = Scale::Log2(1, 16);
  s.SetTickValues({1, 4, 16});
  EXPECT_THAT(Labels(s), ElementsAre("1", "4", "16"));
}

TEST(AnalysisTest, SeriesOrderAndColoursFollowFirstAppearance) {
  BenchReport report;
  report.results = {fixtures::LatencyResult("grpc", "tcp", "", 64, 50),
                    fixtures::LatencyResult("raw", "uds", "", 64, 5),
                    fixtures::LatencyResult("ferry", "tcp", "", 64, 10),
                    fixtures::LatencyResult("ferry", "uds", "", 64, 7)};
  SeriesCatalog catalog(report);
  ModeView view(report, "latency", catalog);
  std::vector<std::string> labels;
  for (const SeriesKey& k : view.series()) labels.push_back(SeriesLabel(k));
  EXPECT_THAT(labels, ElementsAre("ferry · tcp", "grpc · tcp", "ferry · uds", "raw · uds"));
  EXPECT_EQ(catalog.StyleOf({"ferry", "uds", ""}).colour_index, 1);
  EXPECT_EQ(catalog.StyleOf({"raw", "uds", ""}).colour_index, 1);
  EXPECT_EQ(catalog.StyleOf({"raw", "uds", ""}).impl, ImplStyle::kRaw);
}

TEST(AnalysisTest, CounterpartPrefersTheSameVariant) {
  BenchReport report;
  report.results = {fixtures::LatencyResult("ferry", "shm", "wake=spin", 64, 3),
                    fixtures::LatencyResult("raw", "shm", "wake=spin", 64, 1),
                    fixtures::LatencyResult("raw", "shm", "", 64, 2),
                    fixtures::LatencyResult("ferry", "shm", "wake=futex", 64, 4)};
  SeriesCatalog catalog(report);
  ModeView view(report, "latency", catalog);
  EXPECT_EQ(*view.Counterpart({"ferry", "shm", "wake=spin"}, "raw", 64)->p50_us, 1);
  EXPECT_EQ(*view.Counterpart({"ferry", "shm", "wake=futex"}, "raw", 64)->p50_us, 2);
  EXPECT_EQ(view.Counterpart({"ferry", "shm", "wake=futex"}, "grpc", 64), nullptr);
}

TEST(AnalysisTest, PeakPicksTheMostCallsPerSecond) {
  BenchReport report = fixtures::FullReport();
  SeriesCatalog catalog(report);
  ModeView view(report, "throughput", catalog);
  const Result* peak = view.Peak({"raw", "uds", ""}, 64);
  ASSERT_NE(peak, nullptr);
  EXPECT_EQ(peak->concurrency, 16);
  EXPECT_THAT(view.concurrencies(), ElementsAre(1, 2, 4, 8, 16));
}

TEST(AnalysisTest, CurveFallsBackToFiguresAndDropsTheMaximum) {
  Result r;
  r.p50_us = 1;
  r.p99_us = 3;
  r.max_us = 9;
  std::vector<PercentilePoint> curve = CurveOf(r);
  ASSERT_EQ(curve.size(), 2u);
  EXPECT_EQ(curve[1].percentile, 99);
  r.percentiles = {{100, 9}, {50, 1}, {90, 2}};
  curve = CurveOf(r);
  ASSERT_EQ(curve.size(), 2u);
  EXPECT_EQ(curve[0].percentile, 50);
}

TEST(AnalysisTest, FastestBySizeRanksErrorFreeResults) {
  BenchReport report = fixtures::ErrorsReport();
  SeriesCatalog catalog(report);
  ModeView view(report, "latency", catalog);
  std::vector<FastestRow> rows = FastestBySize(view);
  ASSERT_EQ(rows.size(), 4u);
  // At 64 B the spin variant failed calls: futex wins, uds (12.2 µs) is runner-up.
  EXPECT_EQ(rows[0].ferry[0].series.variant, fixtures::kFutex);
  EXPECT_EQ(rows[0].ferry[1].series.transport, "uds");
  ASSERT_EQ(rows[0].unranked.size(), 1u);
  EXPECT_EQ(rows[1].ferry[0].series.variant, fixtures::kSpin);
  EXPECT_EQ(rows[3].raw[0].series.variant, fixtures::kFutex);
  EXPECT_EQ(rows[0].grpc[0].series.transport, "uds");
}

TEST(AnalysisTest, WinnerRunsBreakAtGaps) {
  auto row = [](uint64_t size, const char* winner) {
    FastestRow r;
    r.size = size;
    if (winner != nullptr) r.ferry.push_back({{"ferry", winner, ""}, nullptr, 1});
    return r;
  };
  std::vector<WinnerRun> runs =
      WinnerRuns({row(1, "uds"), row(2, "uds"), row(3, nullptr), row(4, "uds"), row(5, "shm")},
                 &FastestRow::ferry);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].sizes, 2);
  EXPECT_EQ(runs[1].first_size, 4u);
  EXPECT_EQ(runs[2].mechanism, "shm");
}

TEST(PngTest, RoundTripsAndRejectsCorruption) {
  Image image;
  image.width = 3;
  image.height = 2;
  for (int i = 0; i < 6; ++i) {
    for (uint8_t v : {uint8_t(i * 40), uint8_t(255 - i), uint8_t(i), uint8_t(255)}) {
      image.rgba.push_back(v);
    }
  }
  std::string png = EncodePng(image);
  absl::StatusOr<Image> back = DecodePng(png);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->width, 3);
  EXPECT_EQ(back->rgba, image.rgba);

  EXPECT_EQ(DecodePng("GIF89a").status().code(), absl::StatusCode::kInvalidArgument);
  std::string corrupt = png;
  corrupt[40] ^= 0x55;  // inside IDAT: its CRC no longer matches
  EXPECT_EQ(DecodePng(corrupt).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePng(png.substr(0, png.size() - 12)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ferry::bench::report
