// Hand-built BenchReports for the report's tests and the demo page. Test-only.
//
// The numbers come from a small synthetic model (a base cost per mechanism plus a per-KiB
// copy cost; Ferry adds a fixed and a per-KiB cost over raw; gRPC multiplies Ferry's), so
// the pages look like real runs and the rankings are known in advance:
//   latency p50, fastest Ferry transport: shm (backing=memfd,wake=spin) up to 16 KiB,
//   shm (backing=memfd,wake=futex) at 256 KiB; the same for raw.
#ifndef FERRY_BENCH_REPORT_FIXTURES_H_
#define FERRY_BENCH_REPORT_FIXTURES_H_

#include <cstdint>
#include <string>

#include "bench/results.h"

namespace ferry::bench::report::fixtures {

inline constexpr char kSpin[] = "backing=memfd,wake=spin";
inline constexpr char kFutex[] = "backing=memfd,wake=futex";

// A latency-mode result whose percentiles follow from `p50_us` (a curve from p0 to p99.99
// and the p90/p99/p99.9/max/mean figures).
Result LatencyResult(std::string impl, std::string transport, std::string variant,
                     uint64_t size, double p50_us);

// Every mode, six mechanisms (uds, tcp, pipe, two shm variants, udp up to 16 KiB), ferry and
// raw on each and gRPC on uds and tcp; raw udp at 16 KiB (latency) and ferry tcp at 16
// callers (throughput) have failed calls.
BenchReport FullReport();
// Latency mode only, no failed calls.
BenchReport LatencyOnlyReport();
// Latency mode only; the fastest Ferry result at 64 B (shm spin) has failed calls.
BenchReport ErrorsReport();
// Latency mode only, over shm variants only.
BenchReport VariantsReport();
// Text fields full of HTML specials (<script>, quotes, &) to check escaping.
BenchReport HostileReport();

}  // namespace ferry::bench::report::fixtures

#endif  // FERRY_BENCH_REPORT_FIXTURES_H_
