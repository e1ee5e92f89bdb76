// The benchmark's results: what one ferry-bench run measured, and how it was set up.
//
// Overview: ferry-bench fills a BenchReport; writers turn it into the terminal tables,
// JSON, CSV (bench/output.h) and the HTML report (bench/report_html.h). The JSON form is a
// stable interface documented in bench/README.md (method: docs/benchmarking.md):
//
//   {"schema_version": 1,
//    "setup": {"cpu_model": ..., "cores": 2, "kernel": ..., "pinning": ..., ...},
//    "results": [{"impl": "ferry", "transport": "uds", "variant": "", "mode": "latency",
//                 "size": 64, "concurrency": 1, "p50_us": 14.2, ..., "percentiles": [...]}]}
//
// Every figure is a round trip (request there, reply back), never half of one.
#ifndef FERRY_BENCH_RESULTS_H_
#define FERRY_BENCH_RESULTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace ferry::bench {

struct Setup {
  std::string cpu_model;      // /proc/cpuinfo "model name"
  int cores = 0;              // online CPUs
  std::string kernel;         // uname -sr
  std::string hostname;
  std::string pinning;        // "none", or "client=cpu0 server=cpu1"
  std::string location;       // "local" (server started by ferry-bench) or "remote <address>"
  std::vector<uint64_t> sizes;       // payload bytes each way
  std::vector<int> concurrency;      // throughput mode's caller counts
  uint64_t iterations = 0;           // latency mode: measured calls per (row, size)
  uint64_t warmup = 0;               // latency mode: unmeasured calls first
  double duration_s = 0;            // throughput and open-loop mode: seconds per point
  double open_loop_rate = 0;         // open-loop mode: offered calls/s; 0 when chosen per point
  // Open-loop mode with open_loop_rate 0: each point's offered rate is this fraction of the
  // closed-loop calls/s of its slowest implementation (see Result::offered_calls_per_s).
  double open_loop_load = 0;
  std::vector<std::string> modes;    // "latency", "throughput", "open_loop"
  std::string ferry_version;         // git describe
  std::string date;                  // ISO 8601, UTC
};

// One point of a percentile curve: `percentile` in [0, 100], latency in microseconds.
struct PercentilePoint {
  double percentile = 0;
  double us = 0;
};

struct Result {
  std::string impl;       // "ferry", "raw" (the mechanism with no RPC layer) or "grpc"
  std::string transport;  // the address scheme: "uds", "tcp", "shm", ...
  std::string variant;    // transport options such as backing and wake-up; "" if none
  std::string mode;       // "latency", "throughput" or "open_loop"
  uint64_t size = 0;      // payload bytes each way
  int concurrency = 1;    // callers in flight
  // Figures; absent where the mode does not measure them.
  std::optional<double> p50_us, p90_us, p99_us, p999_us, max_us, mean_us;
  std::optional<double> calls_per_s, mb_per_s;
  std::optional<double> cpu_us_per_call;  // client + server CPU time per call
  std::optional<double> offered_calls_per_s;  // open-loop mode: the schedule's rate
  // Latency and open-loop modes: the percentile curve (for the report's charts).
  std::vector<PercentilePoint> percentiles;
  // Calls that failed (should be 0; a non-zero count is shown, never hidden).
  uint64_t errors = 0;
  // Not written to the outputs: why the point could not be set up (errors is then 1 and
  // there are no figures); OK when it was measured.
  absl::Status setup_error;
};

struct BenchReport {
  Setup setup;
  std::vector<Result> results;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_RESULTS_H_
