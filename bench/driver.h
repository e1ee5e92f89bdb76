// The driver: runs every point of a benchmark against local or remote peers.
//
// Overview: for each transport, the driver gets one peer per implementation (local mode:
// it starts each server in a child process of its own, see child.h; remote mode: the
// peers of a `ferry-bench --serve` elsewhere, found from --connect), then measures, for
// each mode, each size (and caller count), the implementations one after the other, so
// the three rows of a point are measured close together in time. Results come back in
// that order.
#ifndef FERRY_BENCH_DRIVER_H_
#define FERRY_BENCH_DRIVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/modes.h"
#include "bench/peer.h"
#include "bench/progress.h"
#include "bench/results.h"
#include "bench/transports.h"

namespace ferry::bench {

struct DriverOptions {
  std::vector<const BenchTransport*> transports;  // local mode; remote mode uses connect's
  std::vector<Impl> impls;
  std::vector<Mode> modes;
  std::vector<uint64_t> sizes;
  std::vector<int> concurrency;
  ModeOptions mode_options;
  // Remote mode when set: the Ferry peer's address of a `ferry-bench --serve`.
  std::string connect;
  // Local mode: this program's path, the CPU to pin servers to (-1: none), and an existing
  // directory with a short path for the servers' socket files (sun_path holds 107 bytes,
  // so not Bazel's $TEST_TMPDIR); each transport gets a subdirectory, removed after it.
  std::string self;
  int server_cpu = -1;
  std::string scratch_dir;
};

// Runs every point. A point that fails to set up (its connection cannot be made) is
// reported as a Result with errors = 1 and no figures, and a note on stderr; the run goes
// on. Errors: a bad --connect address, or a local server that does not start.
absl::StatusOr<std::vector<Result>> RunBenchmarks(const DriverOptions& options,
                                                  Progress& progress);

// The client half of `impl`'s peer at `address`.
absl::StatusOr<std::unique_ptr<PeerClient>> NewPeerClient(Impl impl,
                                                          const BenchTransport& transport,
                                                          const std::string& address);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_DRIVER_H_
