// Writers for a BenchReport: terminal tables, JSON and CSV.
//
// JSON (ToJson) is ferry-bench's stable interface, schema_version 1 (bench/README.md has
// the full description):
//   {"schema_version": 1,
//    "setup": {"cpu_model": "...", "cores": 2, "kernel": "...", "hostname": "...",
//              "pinning": "none", "location": "local", "sizes": [64, 4096],
//              "concurrency": [1, 2], "iterations": 10000, "warmup": 1000,
//              "duration_s": 1, "open_loop_rate": 0, "open_loop_load": 0.5,
//              "modes": ["latency"],
//              "ferry_version": "fcdc0ed-dirty", "date": "2024-05-01T12:34:56Z"},
//    "results": [{"impl": "ferry", "transport": "uds", "variant": "", "mode": "latency",
//                 "size": 64, "concurrency": 1, "p50_us": 14.2, "p90_us": ...,
//                 "p99_us": ..., "p999_us": ..., "max_us": ..., "mean_us": ...,
//                 "calls_per_s": ..., "mb_per_s": ..., "cpu_us_per_call": ...,
//                 "offered_calls_per_s": ...,
//                 "percentiles": [{"p": 50, "us": 14.2}, ...], "errors": 0}]}
// A figure a mode does not measure is absent (not null, not 0). Strings are escaped per
// RFC 8259; numbers are finite (a non-finite figure is left out).
//
// CSV (ToCsv): '#'-prefixed "key: value" lines with the setup, then a header row and one
// row per result, columns as the JSON keys; absent figures are empty cells; the curve is
// one "p:us p:us ..." cell. Fields with commas, quotes or newlines are quoted (RFC 4180).
#ifndef FERRY_BENCH_OUTPUT_H_
#define FERRY_BENCH_OUTPUT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "bench/results.h"

namespace ferry::bench {

inline constexpr int kJsonSchemaVersion = 1;

std::string ToJson(const BenchReport& report);
std::string ToCsv(const BenchReport& report);

// The terminal report: one table per mode (throughput: one per size), rows transport x
// impl, p50 / p99 (or calls/s and CPU per call), then per transport the ratio rows
// "ferry/raw" (Ferry's overhead over the bare mechanism) and "grpc/ferry" (Ferry's
// speed-up against gRPC on the same transport).
std::string FormatTables(const BenchReport& report);

// "64 B", "4 KiB", "1 MiB", "1536 B".
std::string FormatSize(uint64_t bytes);

// A JSON string literal for `s`, quotes included.
std::string JsonString(absl::string_view s);

// Writes `contents` to `path` (creating or truncating it).
absl::Status WriteFile(const std::string& path, absl::string_view contents);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_OUTPUT_H_
