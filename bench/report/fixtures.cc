#include "bench/report/fixtures.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ferry::bench::report::fixtures {
namespace {

struct Mechanism {
  const char* transport;
  const char* variant;
  double base_us;        // round trip of an empty message
  double us_per_kib;     // copy cost, both directions
  uint64_t max_size;     // larger payloads are not measured (UDP datagrams)
  bool grpc;             // gRPC runs over uds and tcp only
};

const std::vector<Mechanism>& Mechanisms() {
  static const std::vector<Mechanism> kMechanisms = {
      {"uds", "", 9.0, 0.09, ~0ull, true},
      {"tcp", "", 17.0, 0.11, ~0ull, true},
      {"pipe", "", 10.0, 0.07, ~0ull, false},
      {"shm", kSpin, 1.2, 0.06, ~0ull, false},
      {"shm", kFutex, 4.5, 0.035, ~0ull, false},
      {"udp", "", 14.0, 0.10, 16384, false},
  };
  return kMechanisms;
}

const std::vector<uint64_t> kSizes = {64, 1024, 16384, 262144};
const std::vector<int> kCallers = {1, 2, 4, 8, 16};

// Latency at a percentile relative to p50: flat below the median, then a tail that grows
// with the number of nines (p99 = 1.8 x p50, p99.9 = 3.1 x, p99.99 = 5.9 x).
double Shape(double percentile) {
  double n = -std::log10(1 - std::min(percentile, 99.9999) / 100);
  double n50 = -std::log10(0.5);
  if (n < n50) return 0.78 + 0.22 * n / n50;
  return std::exp(0.194 * std::pow(n, 1.6)) / std::exp(0.194 * std::pow(n50, 1.6));
}

double RawP50(const Mechanism& m, uint64_t size) {
  return m.base_us + m.us_per_kib * static_cast<double>(size) / 1024;
}
double FerryP50(const Mechanism& m, uint64_t size) {
  return RawP50(m, size) * 1.08 + 2.5 + 0.02 * static_cast<double>(size) / 1024;
}
double GrpcP50(const Mechanism& m, uint64_t size) { return FerryP50(m, size) * 2.2 + 35; }

Setup FullSetup() {
  Setup s;
  s.cpu_model = "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz";
  s.cores = 2;
  s.kernel = "Linux 6.1.0-27-cloud-amd64";
  s.hostname = "bench-01";
  s.pinning = "client=cpu0 server=cpu1";
  s.location = "local";
  s.sizes = kSizes;
  s.concurrency = kCallers;
  s.iterations = 100000;
  s.warmup = 10000;
  s.duration_s = 5;
  s.open_loop_rate = 20000;
  s.modes = {"latency", "throughput", "open_loop"};
  s.ferry_version = "v0.3.0-12-gabc1234";
  s.date = "2025-11-22T04:30:00Z";
  return s;
}

void AddLatency(BenchReport& report) {
  for (const Mechanism& m : Mechanisms()) {
    for (uint64_t size : kSizes) {
      if (size > m.max_size) continue;
      Result f = LatencyResult("ferry", m.transport, m.variant, size, FerryP50(m, size));
      Result r = LatencyResult("raw", m.transport, m.variant, size, RawP50(m, size));
      // Both processes' CPU time; a spinning waiter burns its core for the whole call.
      bool spin = std::string(m.variant) == kSpin;
      f.cpu_us_per_call = *f.p50_us * (spin ? 2.0 : 1.3);
      r.cpu_us_per_call = *r.p50_us * (spin ? 2.0 : 1.1);
      report.results.push_back(f);
      report.results.push_back(r);
      if (m.grpc) {
        Result g = LatencyResult("grpc", m.transport, "", size, GrpcP50(m, size));
        g.cpu_us_per_call = *g.p50_us * 1.5;
        report.results.push_back(g);
      }
    }
  }
}

void AddThroughput(BenchReport& report) {
  for (const Mechanism& m : Mechanisms()) {
    for (uint64_t size : kSizes) {
      if (size > m.max_size) continue;
      for (const char* impl : {"ferry", "raw", "grpc"}) {
        std::string which = impl;
        if (which == "grpc" && !m.grpc) continue;
        double p50 = which == "ferry" ? FerryP50(m, size)
                     : which == "raw" ? RawP50(m, size)
                                      : GrpcP50(m, size);
        for (int c : kCallers) {
          Result r;
          r.impl = which;
          r.transport = m.transport;
          r.variant = which == "grpc" ? "" : m.variant;
          r.mode = "throughput";
          r.size = size;
          r.concurrency = c;
          // Two cores: callers beyond two mostly queue, so the gain flattens.
          double scaling = c / (1 + (c - 1) * 0.42);
          r.calls_per_s = 1e6 / p50 * scaling;
          r.mb_per_s = *r.calls_per_s * static_cast<double>(size) * 2 / 1e6;
          r.p50_us = p50 * (1 + (c - 1) * 0.42);
          r.p99_us = *r.p50_us * 2.1;
          if (which == "ferry" && std::string(m.transport) == "tcp" && c == 16) r.errors = 12;
          report.results.push_back(r);
        }
      }
    }
  }
}

void AddOpenLoop(BenchReport& report) {
  for (const Mechanism& m : Mechanisms()) {
    bool spin = std::string(m.variant) == kSpin;
    if (std::string(m.transport) != "uds" && !spin) continue;
    for (uint64_t size : {uint64_t{64}, uint64_t{16384}}) {
      Result f = LatencyResult("ferry", m.transport, m.variant, size, FerryP50(m, size) * 1.1);
      Result r = LatencyResult("raw", m.transport, m.variant, size, RawP50(m, size) * 1.1);
      for (Result* x : {&f, &r}) {
        x->mode = "open_loop";
        x->calls_per_s = 20000;
        // Queueing behind a late call fattens the tail under a fixed schedule.
        for (PercentilePoint& p : x->percentiles) {
          if (p.percentile > 90) p.us *= 1 + (p.percentile - 90) / 4;
        }
        x->p99_us = *x->p99_us * 3.2;
        x->p999_us = *x->p999_us * 3.45;
        x->cpu_us_per_call.reset();
      }
      report.results.push_back(f);
      report.results.push_back(r);
      if (m.grpc) {
        Result g = LatencyResult("grpc", m.transport, "", size, GrpcP50(m, size) * 1.3);
        g.mode = "open_loop";
        g.calls_per_s = 19650;
        report.results.push_back(g);
      }
    }
  }
}

BenchReport LatencyOnly(BenchReport full) {
  BenchReport out;
  out.setup = full.setup;
  out.setup.modes = {"latency"};
  out.setup.concurrency.clear();
  out.setup.duration_s = 0;
  out.setup.open_loop_rate = 0;
  for (Result& r : full.results) {
    if (r.mode != "latency") continue;
    r.errors = 0;
    out.results.push_back(r);
  }
  return out;
}

}  // namespace

Result LatencyResult(std::string impl, std::string transport, std::string variant,
                     uint64_t size, double p50_us) {
  Result r;
  r.impl = std::move(impl);
  r.transport = std::move(transport);
  r.variant = std::move(variant);
  r.mode = "latency";
  r.size = size;
  r.concurrency = 1;
  r.p50_us = p50_us;
  r.p90_us = p50_us * Shape(90);
  r.p99_us = p50_us * Shape(99);
  r.p999_us = p50_us * Shape(99.9);
  r.max_us = p50_us * Shape(99.9999) * 1.4;
  r.mean_us = p50_us * 1.07;
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99,
                   100.0}) {
    r.percentiles.push_back({p, p == 100.0 ? *r.max_us : p50_us * Shape(p)});
  }
  return r;
}

BenchReport FullReport() {
  BenchReport report;
  report.setup = FullSetup();
  AddLatency(report);
  AddThroughput(report);
  AddOpenLoop(report);
  for (Result& r : report.results) {
    if (r.mode == "latency" && r.impl == "raw" && r.transport == "udp" && r.size == 16384) {
      r.errors = 3;
    }
  }
  return report;
}

BenchReport LatencyOnlyReport() { return LatencyOnly(FullReport()); }

BenchReport ErrorsReport() {
  BenchReport report = LatencyOnlyReport();
  for (Result& r : report.results) {
    if (r.impl == "ferry" && r.variant == kSpin && r.size == 64) r.errors = 5;
  }
  return report;
}

BenchReport VariantsReport() {
  BenchReport report = LatencyOnlyReport();
  std::vector<Result> kept;
  for (Result& r : report.results) {
    if (r.transport == "shm") kept.push_back(r);
  }
  report.results = kept;
  return report;
}

BenchReport HostileReport() {
  BenchReport report;
  report.setup.cpu_model = "<script>alert(1)</script> & \"quoted\" 'cpu'";
  report.setup.hostname = "host<b>";
  report.setup.modes = {"latency"};
  report.setup.sizes = {64};
  report.results.push_back(
      LatencyResult("ferry", "uds<img src=x>", "a=\"1\",b=<2>&c", 64, 10));
  report.results.push_back(LatencyResult("raw", "uds<img src=x>", "a=\"1\",b=<2>&c", 64, 8));
  return report;
}

}  // namespace ferry::bench::report::fixtures
