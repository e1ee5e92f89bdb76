#include "bench/output.h"

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "bench/options.h"
#include "bench/testing/json_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry::bench {
namespace {

using ::ferry::bench::testing::CheckBenchSchema;
using ::ferry::bench::testing::JsonValue;
using ::ferry::bench::testing::ParseJson;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

Result LatencyResult(std::string impl, std::string transport, uint64_t size, double p50) {
  Result r;
  r.impl = std::move(impl);
  r.transport = std::move(transport);
  r.mode = "latency";
  r.size = size;
  r.p50_us = p50;
  r.p90_us = p50 * 1.2;
  r.p99_us = p50 * 2;
  r.p999_us = p50 * 3;
  r.max_us = p50 * 10;
  r.mean_us = p50 * 1.1;
  r.calls_per_s = 1e6 / p50;
  r.percentiles = {{0, p50 / 2}, {50, p50}, {99.9, p50 * 3}, {100, p50 * 10}};
  return r;
}

Result ThroughputResult(std::string impl, std::string transport, int concurrency, double calls) {
  Result r;
  r.impl = std::move(impl);
  r.transport = std::move(transport);
  r.mode = "throughput";
  r.size = 4096;
  r.concurrency = concurrency;
  r.calls_per_s = calls;
  r.mb_per_s = calls * 4096 / 1e6;
  r.cpu_us_per_call = 1e6 / calls * 1.5;
  r.p50_us = 1e6 / calls;
  return r;
}

BenchReport SampleReport() {
  BenchReport report;
  Setup& s = report.setup;
  // Every character class JSON must escape, and UTF-8 that it must not.
  s.cpu_model = "AMD \"EPYC\" 7B13 \\ 64-Core\tProcessor\n\x01 \xc2\xb5s";
  s.cores = 2;
  s.kernel = "Linux 6.1.0";
  s.hostname = "bench-1";
  s.pinning = "client=cpu0 server=cpu1";
  s.location = "local";
  s.sizes = {64, 4096};
  s.concurrency = {1, 2};
  s.iterations = 10000;
  s.warmup = 1000;
  s.duration_s = 0.5;
  s.open_loop_rate = 0;
  s.open_loop_load = 0.5;
  s.modes = {"latency", "throughput", "open_loop"};
  s.ferry_version = "fcdc0ed-dirty";
  s.date = "2024-05-01T12:34:56Z";
  report.results = {LatencyResult("ferry", "uds", 64, 16.5), LatencyResult("raw", "uds", 64, 14.0),
                    LatencyResult("grpc", "uds", 64, 61.0), ThroughputResult("ferry", "tcp", 2, 80000),
                    ThroughputResult("raw", "tcp", 2, 100000)};
  Result open = LatencyResult("ferry", "uds", 64, 30);
  open.mode = "open_loop";
  open.offered_calls_per_s = 12000;
  open.errors = 3;
  report.results.push_back(open);
  Result failed;  // a point that could not be set up: no figures at all
  failed.impl = "grpc";
  failed.transport = "tcp";
  failed.mode = "throughput";
  failed.size = 4096;
  failed.concurrency = 2;
  failed.errors = 1;
  report.results.push_back(failed);
  return report;
}

TEST(JsonTest, ParsesBackAndMatchesTheSchema) {
  const BenchReport report = SampleReport();
  absl::StatusOr<JsonValue> root = ParseJson(ToJson(report));
  ASSERT_TRUE(root.ok()) << root.status() << "\n" << ToJson(report);
  EXPECT_THAT(CheckBenchSchema(*root), IsEmpty());

  const JsonValue* setup = root->Find("setup");
  ASSERT_NE(setup, nullptr);
  EXPECT_EQ(setup->Find("cpu_model")->string, report.setup.cpu_model);  // escaping round-trips
  EXPECT_EQ(setup->Find("pinning")->string, "client=cpu0 server=cpu1");
  EXPECT_EQ(setup->Find("cores")->number, 2);
  EXPECT_EQ(setup->Find("duration_s")->number, 0.5);
  ASSERT_EQ(setup->Find("sizes")->array.size(), 2u);
  EXPECT_EQ(setup->Find("sizes")->array[1].number, 4096);

  const JsonValue* results = root->Find("results");
  ASSERT_NE(results, nullptr);
  ASSERT_EQ(results->array.size(), report.results.size());
  const JsonValue& ferry = results->array[0];
  EXPECT_EQ(ferry.Find("impl")->string, "ferry");
  EXPECT_EQ(ferry.Find("variant")->string, "");
  EXPECT_NEAR(ferry.Find("p50_us")->number, 16.5, 1e-9);
  EXPECT_EQ(ferry.Find("mb_per_s"), nullptr);  // latency mode does not measure it
  EXPECT_EQ(ferry.Find("cpu_us_per_call"), nullptr);
  ASSERT_EQ(ferry.Find("percentiles")->array.size(), 4u);
  EXPECT_EQ(ferry.Find("percentiles")->array[2].Find("p")->number, 99.9);
  const JsonValue& throughput = results->array[3];
  EXPECT_NEAR(throughput.Find("cpu_us_per_call")->number, 18.75, 1e-9);
  EXPECT_EQ(throughput.Find("p99_us"), nullptr);
  EXPECT_EQ(results->array[5].Find("errors")->number, 3);
  EXPECT_EQ(results->array[5].Find("offered_calls_per_s")->number, 12000);
  EXPECT_EQ(ferry.Find("offered_calls_per_s"), nullptr);
  EXPECT_EQ(setup->Find("open_loop_load")->number, 0.5);
  const JsonValue& failed = results->array[6];
  for (const char* figure : {"p50_us", "calls_per_s", "mb_per_s", "cpu_us_per_call"}) {
    EXPECT_EQ(failed.Find(figure), nullptr) << figure;
  }
  EXPECT_TRUE(failed.Find("percentiles")->array.empty());
}

TEST(JsonTest, EmptyReportIsValid) {
  BenchReport empty;
  empty.setup.date = "2024-05-01T12:34:56Z";  // the one field with a format to meet
  absl::StatusOr<JsonValue> root = ParseJson(ToJson(empty));
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_TRUE(root->Find("results")->array.empty());
  EXPECT_THAT(CheckBenchSchema(*root), IsEmpty());
}

TEST(JsonTest, NonFiniteFiguresAreLeftOut) {
  BenchReport report = SampleReport();
  report.results[0].p99_us = std::numeric_limits<double>::infinity();
  report.results[0].mean_us = std::numeric_limits<double>::quiet_NaN();
  absl::StatusOr<JsonValue> root = ParseJson(ToJson(report));
  ASSERT_TRUE(root.ok()) << root.status();
  const JsonValue& r = root->Find("results")->array[0];
  EXPECT_EQ(r.Find("p99_us"), nullptr);
  EXPECT_EQ(r.Find("mean_us"), nullptr);
  EXPECT_NE(r.Find("p50_us"), nullptr);
}

TEST(JsonTest, StringEscaping) {
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("\n\t\x1f\x7f"), "\"\\n\\t\\u001f\\u007f\"");
  EXPECT_EQ(JsonString("\xc2\xb5"), "\"\xc2\xb5\"");
}

// The checker itself must catch what it is there to catch.
TEST(SchemaCheckerTest, RejectsDeviations) {
  const std::string good = ToJson(SampleReport());
  auto problems = [](const std::string& json) {
    absl::StatusOr<JsonValue> root = ParseJson(json);
    EXPECT_TRUE(root.ok()) << root.status();
    return root.ok() ? CheckBenchSchema(*root) : std::vector<std::string>{"unparsable"};
  };
  std::string s = good;
  s.replace(s.find("\"schema_version\": 1"), 19, "\"schema_version\": 2");
  EXPECT_THAT(problems(s), Not(IsEmpty()));
  s = good;
  s.replace(s.find("\"errors\": 0"), 11, "\"errors\": \"0\"");
  EXPECT_THAT(problems(s), Not(IsEmpty()));
  s = good;
  s.replace(s.find("\"p50_us\""), 8, "\"p51_us\"");
  EXPECT_THAT(problems(s), Not(IsEmpty()));
  s = good;
  s.replace(s.find("\"calls_per_s\""), 13, "\"mb_per_s\"");  // a latency result with MB/s
  EXPECT_THAT(problems(s), Not(IsEmpty()));
  s = good;
  s.replace(s.find("\"calls_per_s\""), 13, "\"offered_calls_per_s\"");  // not open loop
  EXPECT_THAT(problems(s), Not(IsEmpty()));
  s = good;
  s.replace(s.find("\"kernel\""), 8, "\"kernal\"");
  EXPECT_THAT(problems(s), Not(IsEmpty()));
}

TEST(JsonReaderTest, IsStrict) {
  EXPECT_TRUE(ParseJson(R"({"a": [1, -2.5e3, true, null, "x\u00b5\ud83d\ude00"]})").ok());
  EXPECT_EQ(ParseJson(R"("\ud83d\ude00")")->string, "\xf0\x9f\x98\x80");
  for (const char* bad : {"{\"a\": 1,}", "[1,]", "{'a': 1}", "01", "1.", "NaN", "\"a\nb\"",
                          "\"\\x\"", "\"\\ud800\"", "{\"a\": 1, \"a\": 2}", "[1] 2", ""}) {
    EXPECT_FALSE(ParseJson(bad).ok()) << bad;
  }
}

TEST(CsvTest, SetupCommentsHeaderAndRows) {
  const BenchReport report = SampleReport();
  const std::string csv = ToCsv(report);
  std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  size_t comments = 0;
  while (comments < lines.size() && absl::StartsWith(lines[comments], "#")) ++comments;
  EXPECT_GE(comments, 15u);
  ASSERT_EQ(lines.size(), comments + 1 + report.results.size());
  EXPECT_TRUE(absl::StrContains(csv, "# pinning: client=cpu0 server=cpu1\n"));
  // The CPU model's newline must not break the comment block.
  EXPECT_TRUE(absl::StrContains(csv, "# cpu_model: AMD \"EPYC\" 7B13"));
  const std::vector<std::string> header = absl::StrSplit(lines[comments], ',');
  ASSERT_EQ(header.size(), 18u);
  EXPECT_EQ(header[0], "impl");
  EXPECT_EQ(header[6], "p50_us");
  EXPECT_EQ(header[14], "cpu_us_per_call");
  const std::vector<std::string> ferry = absl::StrSplit(lines[comments + 1], ',');
  ASSERT_EQ(ferry.size(), 18u);
  EXPECT_EQ(ferry[0], "ferry");
  EXPECT_EQ(ferry[6], "16.5");
  EXPECT_EQ(ferry[13], "");  // mb_per_s absent in latency mode
  EXPECT_EQ(header[15], "offered_calls_per_s");
  EXPECT_EQ(ferry[15], "");
  EXPECT_EQ(ferry[16], "0");
  EXPECT_EQ(ferry[17], "0:8.25 50:16.5 99.9:49.5 100:165");
}

TEST(TablesTest, RatiosAndErrors) {
  const std::string tables = FormatTables(SampleReport());
  EXPECT_TRUE(absl::StrContains(tables, "16.5 / 33.0")) << tables;
  EXPECT_TRUE(absl::StrContains(tables, "ferry/raw")) << tables;
  EXPECT_TRUE(absl::StrContains(tables, "1.18x")) << tables;  // 16.5 / 14
  EXPECT_TRUE(absl::StrContains(tables, "3.70x")) << tables;  // 61 / 16.5
  EXPECT_TRUE(absl::StrContains(tables, "(3 errors)")) << tables;
  EXPECT_TRUE(absl::StrContains(tables, "1.25x cpu 1.25x")) << tables;  // tcp throughput
  EXPECT_TRUE(absl::StrContains(tables, "50% of the slowest row's closed-loop rate (64 B: 12.0k"))
      << tables;
}

// rawpb rows sort between raw and grpc and get their own ratio row and footnote; without
// them neither appears.
TEST(TablesTest, ProtobufFloorRowsAndRatio) {
  const std::string without = FormatTables(SampleReport());
  EXPECT_FALSE(absl::StrContains(without, "rawpb")) << without;
  BenchReport report = SampleReport();
  report.results.push_back(LatencyResult("rawpb", "uds", 64, 15.0));
  const std::string tables = FormatTables(report);
  EXPECT_TRUE(absl::StrContains(tables, "ferry/rawpb")) << tables;
  EXPECT_TRUE(absl::StrContains(tables, "1.10x")) << tables;  // 16.5 / 15
  EXPECT_TRUE(absl::StrContains(tables, "ferry/rawpb: Ferry's cost")) << tables;
  const size_t raw = tables.find("14.0 / 28.0");
  const size_t rawpb = tables.find("15.0 / 30.0");
  const size_t grpc = tables.find("61.0 / 122");
  ASSERT_NE(raw, std::string::npos) << tables;
  ASSERT_NE(rawpb, std::string::npos) << tables;
  ASSERT_NE(grpc, std::string::npos) << tables;
  EXPECT_LT(raw, rawpb);
  EXPECT_LT(rawpb, grpc);
}

TEST(FormatSizeTest, Units) {
  EXPECT_EQ(FormatSize(64), "64 B");
  EXPECT_EQ(FormatSize(4096), "4 KiB");
  EXPECT_EQ(FormatSize(1 << 20), "1 MiB");
  EXPECT_EQ(FormatSize(1536), "1536 B");
}

TEST(OptionsTest, Sizes) {
  EXPECT_THAT(*ParseSizeList("64,4k,64k,1m", 1 << 30), ElementsAre(64, 4096, 65536, 1 << 20));
  EXPECT_THAT(*ParseSizeList(" 4KiB, 2MB ,1g", uint64_t{1} << 31),
              ElementsAre(4096, 2 << 20, 1 << 30));
  EXPECT_FALSE(ParseSizeList("", 100).ok());
  EXPECT_FALSE(ParseSizeList("4x", 1 << 20).ok());
  EXPECT_FALSE(ParseSizeList("k", 1 << 20).ok());
  EXPECT_FALSE(ParseSizeList("2m", 1 << 20).ok());
  EXPECT_FALSE(ParseSizeList("-1", 1 << 20).ok());
}

TEST(OptionsTest, Ints) {
  EXPECT_THAT(*ParseIntList("1,2, 4", 16), ElementsAre(1, 2, 4));
  EXPECT_FALSE(ParseIntList("0", 16).ok());
  EXPECT_FALSE(ParseIntList("17", 16).ok());
  EXPECT_FALSE(ParseIntList("a", 16).ok());
}

}  // namespace
}  // namespace ferry::bench
