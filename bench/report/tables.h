// The report's tables of numbers, as HTML.
//
// Internal to //bench:report_html. Rows are series (implementation × mechanism) or
// mechanisms, columns are payload sizes. Every cell has a title attribute with all of the
// result's figures; cells of results with failed calls carry class "flagged" and a ⚠.
// Functions return an empty string when they have no row to show.
#ifndef FERRY_BENCH_REPORT_TABLES_H_
#define FERRY_BENCH_REPORT_TABLES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "bench/report/analysis.h"

namespace ferry::bench::report {

// p50 per series and size (the lowest in each column highlighted), p99 and — when
// recorded — CPU per call and achieved calls/s underneath. For latency and open-loop views.
std::string LatencyTable(const ModeView& view, absl::string_view caption);

// Peak calls/s per series and size over all caller counts, with MB/s and the caller count
// that reached it.
std::string ThroughputTable(const ModeView& view, absl::string_view caption);

// Ferry's p50 divided by the raw mechanism's p50, per mechanism and size, with the
// difference in µs: what the RPC layer costs.
std::string OverheadTable(const ModeView& latency);
// The same against the rawpb rows (the raw mechanism carrying the call's protobuf work):
// what Ferry adds beyond marshalling. Empty without rawpb results.
std::string OverheadOverMarshallingTable(const ModeView& latency);

// gRPC's p50 divided by Ferry's on the same transport: Ferry's speed-up.
std::string GrpcSpeedupTable(const ModeView& latency);

// Throughput: Ferry's peak calls/s as a fraction of raw's and as a multiple of gRPC's.
std::string ThroughputRatioTable(const ModeView& throughput);

// The answer to "which mechanism is fastest at which size": one-line answers followed by a
// table with, per size, the fastest and runner-up Ferry transport and raw mechanism.
std::string FastestSection(const std::vector<FastestRow>& rows, const SeriesCatalog& catalog);

}  // namespace ferry::bench::report

#endif  // FERRY_BENCH_REPORT_TABLES_H_
