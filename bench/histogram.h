// A log-linear latency histogram with bounded relative error (HdrHistogram's layout).
//
// Overview: values are non-negative integers (ferry-bench records nanoseconds). Values
// below 2^kSubBucketBits (128) each have their own bucket. Above that, every power of two
// [2^e, 2^(e+1)) is split into 2^kSubBucketBits equal sub-buckets of width 2^(e-7). A
// bucket is at most 1/128 of its lower bound wide, and a percentile is reported as the
// middle of the bucket holding it (clamped to the recorded min and max), so it is within
// kMaxRelativeError (1/256, about 0.4%) of the exact value from the full sample.
//
// Memory is fixed (one counter per bucket, 7,424 buckets covering all of uint64, ~58 KiB),
// recording is O(1) with no allocation, and histograms merge exactly, so each thread
// records into its own and the driver adds them up afterwards.
//
// Percentiles use the nearest-rank definition: Percentile(p) is (within the error bound)
// the value at rank ceil(p/100 * count) of the sorted sample, rank 1 being the smallest;
// Percentile(0) is the minimum and Percentile(100) the maximum, both exact.
//
// Threading: not synchronised; one writer at a time. Merge() reads `other` without locks,
// so it must not be recorded into concurrently.
//
// Example:
//   ferry::bench::Histogram h;
//   for (...) h.Record(elapsed_ns);
//   double p99_ns = h.Percentile(99);
#ifndef FERRY_BENCH_HISTOGRAM_H_
#define FERRY_BENCH_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace ferry::bench {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  // Buckets: kSubBuckets exact ones below kSubBuckets, then kSubBuckets per power of two
  // from 2^7 up to 2^63.
  static constexpr int kBucketCount = static_cast<int>(kSubBuckets * (64 - kSubBucketBits + 1));
  // Largest |reported - exact| / exact of Percentile().
  static constexpr double kMaxRelativeError = 1.0 / (2 * kSubBuckets);

  Histogram();

  void Record(uint64_t value) { RecordN(value, 1); }
  // Records `value` `n` times.
  void RecordN(uint64_t value, uint64_t n);
  // Adds every value recorded in `other`.
  void Merge(const Histogram& other);
  void Clear();

  uint64_t count() const { return count_; }
  // 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  // Exact arithmetic mean; 0 when empty.
  double Mean() const;
  // `p` in [0, 100] (clamped); 0 when empty. See the header comment for the definition.
  double Percentile(double p) const;

  // The nearest rank of percentile `p` among `count` values: ceil(p/100 * count) in
  // [1, count], robust to rounding (99.9% of 1000 is rank 999, not 1000).
  static uint64_t Rank(double p, uint64_t count);

  // Bucket arithmetic, exposed for tests.
  static int BucketOf(uint64_t value);
  static uint64_t BucketLow(int bucket);   // smallest value in the bucket
  static uint64_t BucketHigh(int bucket);  // largest value in the bucket

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  // The sum as a double: exact up to 2^53 ns (104 days) in total, close enough beyond.
  double sum_ = 0;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_HISTOGRAM_H_
