#include "bench/report/analysis.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "bench/report/format.h"

namespace ferry::bench::report {
namespace {

int ImplRank(absl::string_view impl) {
  if (impl == "ferry") return 0;
  if (impl == "raw") return 1;
  if (impl == "rawpb") return 2;
  if (impl == "grpc") return 3;
  return 4;
}

}  // namespace

SeriesKey KeyOf(const Result& r) { return {r.impl, r.transport, r.variant}; }

std::string MechanismLabel(absl::string_view transport, absl::string_view variant) {
  if (variant.empty()) return std::string(transport);
  return absl::StrCat(transport, " (", absl::StrReplaceAll(variant, {{",", ", "}}), ")");
}

std::string SeriesLabel(const SeriesKey& key) {
  return absl::StrCat(key.impl, " · ", MechanismLabel(key.transport, key.variant));
}

SeriesCatalog::SeriesCatalog(const BenchReport& report) {
  for (const Result& r : report.results) {
    auto mech = std::make_pair(r.transport, r.variant);
    if (!mechanisms_.count(mech)) {
      int next = static_cast<int>(mechanisms_.size());
      mechanisms_[mech] = next;
    }
  }
}

int SeriesCatalog::MechanismIndex(const SeriesKey& key) const {
  auto it = mechanisms_.find({key.transport, key.variant});
  return it == mechanisms_.end() ? static_cast<int>(mechanisms_.size()) : it->second;
}

SeriesStyle SeriesCatalog::StyleOf(const SeriesKey& key) const {
  return {MechanismIndex(key), ImplStyleFor(key.impl)};
}

bool SeriesCatalog::Before(const SeriesKey& a, const SeriesKey& b) const {
  auto rank = [this](const SeriesKey& k) {
    return std::make_tuple(MechanismIndex(k), ImplRank(k.impl), k.impl);
  };
  return rank(a) < rank(b);
}

ModeView::ModeView(const BenchReport& report, absl::string_view mode,
                   const SeriesCatalog& catalog)
    : mode_(mode), catalog_(&catalog) {
  std::set<SeriesKey> series;
  std::set<uint64_t> sizes;
  std::set<int> concurrencies;
  for (const Result& r : report.results) {
    if (r.mode != mode) continue;
    // A repeated point keeps its first result; drivers do not emit duplicates.
    index_.emplace(std::make_tuple(KeyOf(r), r.size, r.concurrency), &r);
    series.insert(KeyOf(r));
    sizes.insert(r.size);
    concurrencies.insert(r.concurrency);
    if (r.errors > 0) flagged_.push_back(&r);
  }
  series_.assign(series.begin(), series.end());
  std::stable_sort(series_.begin(), series_.end(),
                   [&catalog](const SeriesKey& a, const SeriesKey& b) {
                     return catalog.Before(a, b);
                   });
  sizes_.assign(sizes.begin(), sizes.end());
  concurrencies_.assign(concurrencies.begin(), concurrencies.end());
}

const Result* ModeView::At(const SeriesKey& key, uint64_t size, int concurrency) const {
  auto it = index_.find(std::make_tuple(key, size, concurrency));
  return it == index_.end() ? nullptr : it->second;
}

const Result* ModeView::At(const SeriesKey& key, uint64_t size) const {
  for (int c : concurrencies_) {
    if (const Result* r = At(key, size, c)) return r;
  }
  return nullptr;
}

const Result* ModeView::Peak(const SeriesKey& key, uint64_t size) const {
  const Result* best = nullptr;
  for (int c : concurrencies_) {
    const Result* r = At(key, size, c);
    if (r == nullptr || !r->calls_per_s) continue;
    if (best == nullptr || *r->calls_per_s > *best->calls_per_s) best = r;
  }
  return best;
}

const Result* ModeView::Counterpart(const SeriesKey& key, absl::string_view impl,
                                    uint64_t size) const {
  SeriesKey other{std::string(impl), key.transport, key.variant};
  if (const Result* r = At(other, size)) return r;
  other.variant.clear();
  return At(other, size);
}

bool ModeView::Has(std::optional<double> Result::*figure) const {
  for (const auto& [k, r] : index_) {
    if ((r->*figure).has_value()) return true;
  }
  return false;
}

std::vector<PercentilePoint> CurveOf(const Result& r) {
  std::vector<PercentilePoint> curve;
  if (!r.percentiles.empty()) {
    for (const PercentilePoint& p : r.percentiles) {
      if (p.percentile < 100 && p.percentile >= 0) curve.push_back(p);
    }
  } else {
    const std::pair<double, std::optional<double>> figures[] = {
        {50, r.p50_us}, {90, r.p90_us}, {99, r.p99_us}, {99.9, r.p999_us}};
    for (const auto& [p, us] : figures) {
      if (us) curve.push_back({p, *us});
    }
  }
  std::stable_sort(curve.begin(), curve.end(),
                   [](const PercentilePoint& a, const PercentilePoint& b) {
                     return a.percentile < b.percentile;
                   });
  return curve;
}

std::string DescribeResult(const Result& r) {
  std::string out = absl::StrCat(SeriesLabel(KeyOf(r)), ", ", FormatBytes(r.size));
  if (r.mode == "throughput" || r.concurrency != 1) {
    absl::StrAppend(&out, ", ", r.concurrency, r.concurrency == 1 ? " caller" : " callers");
  }
  const std::pair<const char*, std::optional<double>> latencies[] = {
      {"p50", r.p50_us}, {"p90", r.p90_us},  {"p99", r.p99_us},
      {"p99.9", r.p999_us}, {"max", r.max_us}, {"mean", r.mean_us}};
  for (const auto& [name, us] : latencies) {
    if (us) absl::StrAppend(&out, "\n", name, " ", FormatUs(*us), " µs");
  }
  if (r.calls_per_s) absl::StrAppend(&out, "\n", FormatRate(*r.calls_per_s), " calls/s");
  if (r.mb_per_s) absl::StrAppend(&out, "\n", FormatMBps(*r.mb_per_s), " MB/s");
  if (r.cpu_us_per_call) {
    absl::StrAppend(&out, "\nCPU ", FormatUs(*r.cpu_us_per_call), " µs/call");
  }
  if (r.errors > 0) absl::StrAppend(&out, "\n⚠ ", FormatCount(r.errors), " failed calls");
  return out;
}

std::vector<FastestRow> FastestBySize(const ModeView& latency) {
  std::vector<FastestRow> rows;
  for (uint64_t size : latency.sizes()) {
    FastestRow row;
    row.size = size;
    for (const SeriesKey& key : latency.series()) {
      const Result* r = latency.At(key, size);
      if (r == nullptr || !r->p50_us) continue;
      if (r->errors > 0) {
        row.unranked.push_back(key);
        continue;
      }
      Ranked ranked{key, r, *r->p50_us};
      if (key.impl == "ferry") row.ferry.push_back(ranked);
      if (key.impl == "raw") row.raw.push_back(ranked);
      if (key.impl == "grpc") row.grpc.push_back(ranked);
    }
    for (auto* ranking : {&row.ferry, &row.raw, &row.grpc}) {
      std::stable_sort(ranking->begin(), ranking->end(), [](const Ranked& a, const Ranked& b) {
        double a99 = a.result->p99_us.value_or(a.p50), b99 = b.result->p99_us.value_or(b.p50);
        return std::make_tuple(a.p50, a99, SeriesLabel(a.series)) <
               std::make_tuple(b.p50, b99, SeriesLabel(b.series));
      });
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<WinnerRun> WinnerRuns(const std::vector<FastestRow>& rows,
                                  std::vector<Ranked> FastestRow::*ranking) {
  std::vector<WinnerRun> runs;
  // A size with no ranked result ends a run: "from A to C" must not claim B.
  bool contiguous = false;
  for (const FastestRow& row : rows) {
    const std::vector<Ranked>& ranked = row.*ranking;
    if (ranked.empty()) {
      contiguous = false;
      continue;
    }
    std::string mech = MechanismLabel(ranked[0].series.transport, ranked[0].series.variant);
    bool extend = contiguous && runs.back().mechanism == mech;
    contiguous = true;
    if (extend) {
      runs.back().last_size = row.size;
      ++runs.back().sizes;
    } else {
      runs.push_back({mech, row.size, row.size, 1});
    }
  }
  return runs;
}

}  // namespace ferry::bench::report
