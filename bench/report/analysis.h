// What the HTML report computes from a BenchReport before drawing anything: which series
// exist, their order and colours, per-mode lookups, ratios between implementations, and
// the "which mechanism is fastest at which size" ranking.
//
// Internal to //bench:report_html. Views hold pointers into the BenchReport they were built
// from; the report must outlive them. Nothing here is hard-coded about particular
// transports: every conclusion comes from the numbers.
#ifndef FERRY_BENCH_REPORT_ANALYSIS_H_
#define FERRY_BENCH_REPORT_ANALYSIS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/string_view.h"
#include "bench/report/svg.h"
#include "bench/results.h"

namespace ferry::bench::report {

// One line in a chart, one row in a table: an implementation over a mechanism.
struct SeriesKey {
  std::string impl;
  std::string transport;
  std::string variant;

  bool operator<(const SeriesKey& o) const {
    return std::tie(impl, transport, variant) < std::tie(o.impl, o.transport, o.variant);
  }
  bool operator==(const SeriesKey& o) const {
    return std::tie(impl, transport, variant) == std::tie(o.impl, o.transport, o.variant);
  }
};

SeriesKey KeyOf(const Result& r);
// "uds", or "shm (backing=memfd, wake=spin)": the variant's commas get a space so long
// variants can wrap.
std::string MechanismLabel(absl::string_view transport, absl::string_view variant);
// "ferry · uds", "raw · shm (backing=memfd, wake=spin)".
std::string SeriesLabel(const SeriesKey& key);

// Mechanisms (transport + variant) numbered in order of first appearance in the results, so
// a mechanism keeps its colour in every chart; implementations within a mechanism are
// ordered ferry, raw, grpc, then others alphabetically.
class SeriesCatalog {
 public:
  explicit SeriesCatalog(const BenchReport& report);

  SeriesStyle StyleOf(const SeriesKey& key) const;
  // True when `a` is drawn/listed before `b`.
  bool Before(const SeriesKey& a, const SeriesKey& b) const;

 private:
  int MechanismIndex(const SeriesKey& key) const;
  std::map<std::pair<std::string, std::string>, int> mechanisms_;
};

// The results of one mode, indexed by series, size and concurrency.
class ModeView {
 public:
  ModeView(const BenchReport& report, absl::string_view mode, const SeriesCatalog& catalog);

  bool empty() const { return index_.empty(); }
  const std::string& mode() const { return mode_; }
  const SeriesCatalog& catalog() const { return *catalog_; }
  // In display order.
  const std::vector<SeriesKey>& series() const { return series_; }
  // Ascending.
  const std::vector<uint64_t>& sizes() const { return sizes_; }
  const std::vector<int>& concurrencies() const { return concurrencies_; }
  // Results with errors > 0, in report order.
  const std::vector<const Result*>& flagged() const { return flagged_; }

  // The result at exactly this point, or null.
  const Result* At(const SeriesKey& key, uint64_t size, int concurrency) const;
  // The result at the lowest concurrency measured for (key, size): latency and open-loop
  // modes run one caller, and this picks it even if a driver ran more.
  const Result* At(const SeriesKey& key, uint64_t size) const;
  // Throughput mode: the result with the most calls/s over all concurrencies, or null.
  const Result* Peak(const SeriesKey& key, uint64_t size) const;

  // The same mechanism under another implementation: exact variant first, else the
  // variant-less one (gRPC and raw baselines usually have no variant).
  const Result* Counterpart(const SeriesKey& key, absl::string_view impl, uint64_t size) const;

  // True if any result in the view has the figure.
  bool Has(std::optional<double> Result::*figure) const;

 private:
  std::string mode_;
  const SeriesCatalog* catalog_;
  std::map<std::tuple<SeriesKey, uint64_t, int>, const Result*> index_;
  std::vector<SeriesKey> series_;
  std::vector<uint64_t> sizes_;
  std::vector<int> concurrencies_;
  std::vector<const Result*> flagged_;
};

// A result's percentile curve: the recorded one if any, else built from p50/p90/p99/p99.9;
// sorted by percentile. Points at p >= 100 (the maximum) are dropped: they cannot sit on a
// nines axis.
std::vector<PercentilePoint> CurveOf(const Result& r);

// Every figure a result has, one per line, for tooltips: "ferry · uds, 64 B\np50 14.2 µs\n...".
std::string DescribeResult(const Result& r);

// ---- The fastest mechanism at each size --------------------------------------------------

struct Ranked {
  SeriesKey series;
  const Result* result = nullptr;
  double p50 = 0;
};

struct FastestRow {
  uint64_t size = 0;
  // Error-free results with a p50, fastest first (ties broken by p99, then by name).
  std::vector<Ranked> ferry, raw, grpc;
  // Results left out of the ranking because some of their calls failed.
  std::vector<SeriesKey> unranked;
};

// One row per size of the latency view.
std::vector<FastestRow> FastestBySize(const ModeView& latency);

// Consecutive sizes won by the same mechanism, for the one-line answers above the table
// ("uds from 64 B to 4 KiB, shm from 64 KiB to 1 MiB").
struct WinnerRun {
  std::string mechanism;  // MechanismLabel
  uint64_t first_size = 0, last_size = 0;
  int sizes = 0;
};
std::vector<WinnerRun> WinnerRuns(const std::vector<FastestRow>& rows,
                                  std::vector<Ranked> FastestRow::*ranking);

}  // namespace ferry::bench::report

#endif  // FERRY_BENCH_REPORT_ANALYSIS_H_
