#include "bench/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ferry::bench {
namespace {

constexpr double kPercentiles[] = {0,  1,  10, 25,   50,    75,     90,    95,
                                   99, 99.5, 99.9, 99.99, 99.999, 100};

// The nearest-rank percentile of the full sample.
double ExactPercentile(std::vector<uint64_t> sorted, double p) {
  std::sort(sorted.begin(), sorted.end());
  if (p <= 0) return static_cast<double>(sorted.front());
  return static_cast<double>(sorted[Histogram::Rank(p, sorted.size()) - 1]);
}

void ExpectWithinBound(const std::vector<uint64_t>& values, const Histogram& h) {
  ASSERT_EQ(h.count(), values.size());
  std::vector<uint64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double p : kPercentiles) {
    const double exact = ExactPercentile(sorted, p);
    const double got = h.Percentile(p);
    EXPECT_LE(std::abs(got - exact), exact * Histogram::kMaxRelativeError + 1e-9)
        << "p" << p << ": histogram " << got << ", exact " << exact;
  }
  EXPECT_EQ(h.min(), sorted.front());
  EXPECT_EQ(h.max(), sorted.back());
  EXPECT_EQ(h.Percentile(0), static_cast<double>(sorted.front()));
  EXPECT_EQ(h.Percentile(100), static_cast<double>(sorted.back()));
  double sum = 0;
  for (uint64_t v : values) sum += static_cast<double>(v);
  EXPECT_NEAR(h.Mean(), sum / static_cast<double>(values.size()), 1e-6 * h.Mean());
}

Histogram Fill(const std::vector<uint64_t>& values) {
  Histogram h;
  for (uint64_t v : values) h.Record(v);
  return h;
}

TEST(HistogramTest, Empty) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.Mean(), 0);
  EXPECT_EQ(h.Percentile(50), 0);
  EXPECT_EQ(h.Percentile(100), 0);
  Histogram other;
  h.Merge(other);
  EXPECT_EQ(h.count(), 0u);
}

TEST(HistogramTest, BucketsTileTheRangeWithBoundedWidth) {
  EXPECT_EQ(Histogram::BucketOf(0), 0);
  EXPECT_EQ(Histogram::BucketLow(0), 0u);
  for (int b = 0; b + 1 < Histogram::kBucketCount; ++b) {
    ASSERT_EQ(Histogram::BucketHigh(b) + 1, Histogram::BucketLow(b + 1)) << b;
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketLow(b)), b);
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketHigh(b)), b);
    const double width = static_cast<double>(Histogram::BucketHigh(b) - Histogram::BucketLow(b));
    ASSERT_LE(width / 2, static_cast<double>(std::max<uint64_t>(Histogram::BucketLow(b), 1)) *
                             Histogram::kMaxRelativeError)
        << b;
  }
  EXPECT_EQ(Histogram::BucketOf(UINT64_MAX), Histogram::kBucketCount - 1);
  EXPECT_EQ(Histogram::BucketHigh(Histogram::kBucketCount - 1), UINT64_MAX);
}

TEST(HistogramTest, Rank) {
  EXPECT_EQ(Histogram::Rank(50, 1), 1u);
  EXPECT_EQ(Histogram::Rank(50, 10), 5u);
  EXPECT_EQ(Histogram::Rank(51, 10), 6u);
  EXPECT_EQ(Histogram::Rank(99.9, 1000), 999u);
  EXPECT_EQ(Histogram::Rank(99.99, 1000), 1000u);
  EXPECT_EQ(Histogram::Rank(0, 10), 1u);
  EXPECT_EQ(Histogram::Rank(100, 10), 10u);
  EXPECT_EQ(Histogram::Rank(250, 10), 10u);
}

TEST(HistogramTest, Constant) {
  std::vector<uint64_t> values(1000, 15'300);
  Histogram h = Fill(values);
  ExpectWithinBound(values, h);
  for (double p : kPercentiles) EXPECT_EQ(h.Percentile(p), 15'300) << p;  // clamped to min/max
}

TEST(HistogramTest, SmallValuesAreExact) {
  std::vector<uint64_t> values;
  for (uint64_t v = 0; v < Histogram::kSubBuckets; ++v) values.push_back(v);
  Histogram h = Fill(values);
  EXPECT_EQ(h.Percentile(50), 63);
  EXPECT_EQ(h.Percentile(1), 1);
}

TEST(HistogramTest, Uniform) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> dist(1'000, 2'000'000);
  std::vector<uint64_t> values(200'000);
  for (uint64_t& v : values) v = dist(rng);
  ExpectWithinBound(values, Fill(values));
}

TEST(HistogramTest, Exponential) {
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> dist(1.0 / 20'000);  // mean 20 us in ns
  std::vector<uint64_t> values(200'000);
  for (uint64_t& v : values) v = 5'000 + static_cast<uint64_t>(dist(rng));
  ExpectWithinBound(values, Fill(values));
}

TEST(HistogramTest, Bimodal) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> fast(15'000, 500);
  std::normal_distribution<double> slow(2'000'000, 50'000);
  std::vector<uint64_t> values;
  for (int i = 0; i < 100'000; ++i) {
    const double v = (i % 10 == 0) ? slow(rng) : fast(rng);
    values.push_back(static_cast<uint64_t>(std::max(v, 1.0)));
  }
  Histogram h = Fill(values);
  ExpectWithinBound(values, h);
  // The 90th percentile is still in the fast mode, the 95th in the slow one.
  EXPECT_LT(h.Percentile(89), 20'000);
  EXPECT_GT(h.Percentile(95), 1'000'000);
}

TEST(HistogramTest, HugeValues) {
  std::vector<uint64_t> values = {1, UINT64_MAX / 3, UINT64_MAX};
  ExpectWithinBound(values, Fill(values));
}

TEST(HistogramTest, MergeEqualsRecordingEverything) {
  std::mt19937_64 rng(4);
  std::lognormal_distribution<double> dist(10, 1.5);
  std::vector<uint64_t> all;
  Histogram parts[4];
  for (int i = 0; i < 40'000; ++i) {
    const uint64_t v = static_cast<uint64_t>(dist(rng));
    all.push_back(v);
    parts[i % 4].Record(v);
  }
  Histogram merged;
  for (const Histogram& part : parts) merged.Merge(part);
  const Histogram direct = Fill(all);
  ExpectWithinBound(all, merged);
  for (double p : kPercentiles) EXPECT_EQ(merged.Percentile(p), direct.Percentile(p)) << p;
  EXPECT_EQ(merged.min(), direct.min());
  EXPECT_EQ(merged.max(), direct.max());
}

TEST(HistogramTest, RecordNAndClear) {
  Histogram h;
  h.RecordN(100, 3);
  h.RecordN(7, 0);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.min(), 100u);
  h.Clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0);
  h.Record(9);
  EXPECT_EQ(h.min(), 9u);
  EXPECT_EQ(h.max(), 9u);
}

}  // namespace
}  // namespace ferry::bench
