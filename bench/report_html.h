// The HTML report of a ferry-bench run.
//
// Overview: RenderHtmlReport turns a BenchReport (bench/results.h) into one self-contained
// HTML page — styles inline, charts as inline SVG, no scripts, fonts, images or links to
// fetch — that opens from disk on a machine with no network. The page shows:
//   * the run's setup (CPU, kernel, pinning, sizes, iterations, durations, version, date);
//   * which mechanism is fastest at each payload size, computed from the measured p50s;
//   * latency per transport and size (p50 bars with p99 whiskers) and its table;
//   * latency-by-percentile curves per size;
//   * Ferry's overhead over each raw mechanism and its speed-up over gRPC;
//   * throughput (calls/s, MB/s) against callers in flight, when measured;
//   * open-loop latency, when measured.
// Sections whose data is missing say so instead of drawing an empty chart; results with
// failed calls (errors > 0) are flagged in red wherever they appear and listed at the top.
// bench/report/README.md describes every section and how it is computed.
//
// Example:
//   ferry::bench::BenchReport report = RunBenchmarks(...);
//   std::ofstream("report.html") << ferry::bench::RenderHtmlReport(report);
#ifndef FERRY_BENCH_REPORT_HTML_H_
#define FERRY_BENCH_REPORT_HTML_H_

#include <string>

#include "bench/results.h"

namespace ferry::bench {

// Returns the page as UTF-8. Pure: it reads nothing but `report` (no clock, no files), so
// the same report always renders the same bytes. Any BenchReport is accepted, including an
// empty one; all text from the report is HTML-escaped. Thread-safe.
std::string RenderHtmlReport(const BenchReport& report);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_REPORT_HTML_H_
