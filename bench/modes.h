// The three measurements, each over any PeerClient (ferry, raw or grpc alike).
//
// latency     Closed loop, one call in flight on one connection: `warmup` unmeasured
//             calls, then `iterations` timed ones (or fewer once the peer's calls have
//             taken `latency_time_limit`; the warm-up stops early after a tenth of
//             that). The peers of a point take turns in rounds.
//             Figures: percentiles, mean, max, calls/s (1 / mean).
// throughput  `concurrency` callers, each on its own connection and thread, call back to
//             back for `duration` after a warm-up of duration/10, in bursts that take
//             turns with the point's other implementations. Figures: calls/s,
//             MB/s (payload bytes per second in each direction, MB = 10^6 bytes), CPU
//             time per call (client process + server process, from getrusage on both
//             sides over the measured interval), and the latency percentiles under load.
// open_loop   After a closed-loop warm-up (`warmup` calls, at most duration/10), one
//             caller sends on a fixed schedule for `duration`, at the same rate for
//             every implementation of a point: `rate` calls/s, or by default half of what
//             the point's slowest implementation sustains in closed loop;
//             each call's latency runs from its *intended* send time, so a call that had
//             to wait for the previous one is charged for the wait (no coordinated
//             omission). A call that cannot be sent before duration + max(duration, 1 s)
//             has passed is abandoned and counted in `errors`, with the figures covering
//             the calls that were sent. Figures: percentiles, mean, max, achieved calls/s.
//
// Every latency is one round trip, recorded in nanoseconds into a Histogram; results are
// in microseconds. A failed call is counted in Result::errors and not timed; a caller
// stops after 10 failures in a row (its connection is presumed dead).
#ifndef FERRY_BENCH_MODES_H_
#define FERRY_BENCH_MODES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bench/histogram.h"
#include "bench/peer.h"
#include "bench/progress.h"
#include "bench/results.h"

namespace ferry::bench {

enum class Mode : unsigned char { kLatency, kThroughput, kOpenLoop };
inline constexpr Mode kAllModes[] = {Mode::kLatency, Mode::kThroughput, Mode::kOpenLoop};

// "latency", "throughput", "open_loop".
absl::string_view ModeName(Mode mode);
absl::StatusOr<Mode> ParseMode(absl::string_view name);

struct ModeOptions {
  uint64_t iterations = 10000;
  uint64_t warmup = 1000;
  absl::Duration latency_time_limit = absl::Seconds(10);
  absl::Duration duration = absl::Seconds(1);
  // Throughput: the duration is split into this many bursts per implementation.
  int throughput_bursts = 5;
  // Open loop: a fixed offered rate in calls/s, or (when `rate` is 0) `load` times the
  // closed-loop calls/s of the point's slowest implementation, probed before the point for
  // clamp(duration / 5, 50 ms, 500 ms) per implementation.
  double rate = 0;
  double load = 0.5;
};

// The percentiles of Result::percentiles, in order.
const std::vector<double>& CurvePercentiles();

// Fills the latency figures (p50 ... max, mean, the curve) from `h` (nanoseconds).
void FillLatencyFigures(const Histogram& h, Result* result);

// Each returns a Result with mode, size, concurrency and the mode's figures set (impl,
// transport and variant are the caller's). Errors: the peer could not be reached to set
// up the measurement (connect or first call failed).
// Latency of several peers at once, in alternating rounds of up to 200 calls (after each
// peer's warm-up), so that load from elsewhere on the machine falls on all of them alike
// and their ratios stay meaningful. One result per peer, in order; a peer that cannot be
// set up gets its error.
std::vector<absl::StatusOr<Result>> MeasureLatency(absl::Span<PeerClient* const> peers,
                                                   uint64_t size, const ModeOptions& options,
                                                   Progress& progress);
// Throughput of several peers at once: each peer's callers run in `throughput_bursts`
// bursts of duration/bursts, the peers taking turns, so that every row of the point sees
// the same machine. The connections persist across bursts; the threads are new each
// burst (so the scheduler places them afresh). One result per peer, in order.
std::vector<absl::StatusOr<Result>> MeasureThroughput(absl::Span<PeerClient* const> peers,
                                                      uint64_t size, int concurrency,
                                                      const ModeOptions& options,
                                                      Progress& progress);
// Open loop of several peers at the same offered `rate`: each peer's schedule is cut into
// `throughput_bursts` slices of duration/slices and the peers take turns slice by slice,
// like the other modes. Latency is measured from each call's intended send time. One
// result per peer, in order.
std::vector<absl::StatusOr<Result>> MeasureOpenLoop(absl::Span<PeerClient* const> peers,
                                                    uint64_t size, double rate,
                                                    const ModeOptions& options,
                                                    Progress& progress);

// Closed-loop calls/s of one caller over `probe` (after 5 unmeasured calls): what the
// default open-loop rate is a fraction of.
absl::StatusOr<double> ClosedLoopRate(PeerClient& peer, uint64_t size, absl::Duration probe);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_MODES_H_
