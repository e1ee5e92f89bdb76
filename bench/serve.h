// Serve mode: `ferry-bench --serve=<address>`, the server half of every row.
//
// Overview: with one implementation (`--serve_impl=ferry`), the process serves it on
// `address`, prints "serving ferry on <bound address>" on stdout once it accepts calls,
// and serves until SIGTERM or SIGINT. With several (the default, ferry,raw,grpc), it
// starts one child process per implementation (each in its own process, so each server's
// CPU time is its own), the Ferry peer on `address` and the others where the transport's
// table entry puts them (TCP: the next two ports; Unix sockets: ".raw" and ".grpc" after
// the path), prints one "serving" line per child and stops them all on SIGTERM/SIGINT.
// A driver on another machine then names the Ferry peer's address in `--connect`.
#ifndef FERRY_BENCH_SERVE_H_
#define FERRY_BENCH_SERVE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/peer.h"
#include "bench/transports.h"

namespace ferry::bench {

struct ServeOptions {
  std::string address;
  std::vector<Impl> impls;
  // Started by a driver on this machine (the hidden --internal_child): exit when it dies.
  bool child = false;
  // This program's path, for starting one child per implementation.
  std::string self;
};

// Serves until SIGTERM or SIGINT; returns the process exit code. Must be called before
// any thread is started (it blocks the signals it waits for).
int Serve(const ServeOptions& options);

// A server of `impl` in this process.
absl::StatusOr<std::unique_ptr<PeerServer>> StartPeerServer(Impl impl,
                                                            const BenchTransport& transport,
                                                            const std::string& address);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_SERVE_H_
