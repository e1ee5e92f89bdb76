#include "bench/histogram.h"

#include <algorithm>
#include <cmath>

namespace ferry::bench {

Histogram::Histogram() : counts_(kBucketCount, 0) {}

int Histogram::BucketOf(uint64_t value) {
  if (value < kSubBuckets) return static_cast<int>(value);
  const int e = 63 - __builtin_clzll(value);  // >= kSubBucketBits
  const int shift = e - kSubBucketBits;
  const uint64_t sub = (value >> shift) - kSubBuckets;
  return static_cast<int>(kSubBuckets + static_cast<uint64_t>(shift) * kSubBuckets + sub);
}

uint64_t Histogram::BucketLow(int bucket) {
  const uint64_t b = static_cast<uint64_t>(bucket);
  if (b < kSubBuckets) return b;
  const uint64_t shift = (b - kSubBuckets) / kSubBuckets;
  const uint64_t sub = (b - kSubBuckets) % kSubBuckets;
  return (kSubBuckets + sub) << shift;
}

uint64_t Histogram::BucketHigh(int bucket) {
  const uint64_t b = static_cast<uint64_t>(bucket);
  if (b < kSubBuckets) return b;
  const uint64_t shift = (b - kSubBuckets) / kSubBuckets;
  return BucketLow(bucket) + ((uint64_t{1} << shift) - 1);
}

void Histogram::RecordN(uint64_t value, uint64_t n) {
  if (n == 0) return;
  counts_[BucketOf(value)] += n;
  count_ += n;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<double>(value) * static_cast<double>(n);
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (int i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::Clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

double Histogram::Mean() const {
  return count_ == 0 ? 0 : sum_ / static_cast<double>(count_);
}

uint64_t Histogram::Rank(double p, uint64_t count) {
  if (count == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  const double exact = p / 100.0 * static_cast<double>(count);
  // p/100 is rarely exact in binary: 99.9 / 100 * 1000 is 999.0000000000001. A relative
  // nudge far below one rank keeps whole ranks whole.
  const double r = std::ceil(exact - 1e-9 * std::max(1.0, exact));
  return std::clamp<uint64_t>(static_cast<uint64_t>(std::max(r, 0.0)), 1, count);
}

double Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  if (p <= 0) return static_cast<double>(min_);
  const uint64_t rank = Rank(p, count_);
  if (rank == count_) return static_cast<double>(max_);
  uint64_t seen = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const double mid =
          (static_cast<double>(BucketLow(i)) + static_cast<double>(BucketHigh(i))) / 2;
      return std::clamp(mid, static_cast<double>(min_), static_cast<double>(max_));
    }
  }
  return static_cast<double>(max_);  // unreachable: the counts add up to count_
}

}  // namespace ferry::bench
