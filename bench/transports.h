// The mechanisms ferry-bench compares: one table entry each.
//
// Overview: every row of the report is an implementation (ferry, raw, grpc) over one
// entry of BenchTransports(). An entry says how a local peer of each implementation is
// addressed, how the peers of a remote server (`ferry-bench --serve`) are found from the
// one address the user gives, which raw floor measures the bare mechanism, and whether
// gRPC runs over it.
//
// Adding a mechanism (say "shm", once the Ferry transport exists in DefaultTransports()):
//   1. implement its raw floor, a RawMechanism (raw_peer.h; raw_stream.cc for sockets);
//   2. add one entry to the table in transports.cc naming it.
// The driver, the modes, the tables, JSON, CSV and HTML pick the rows up from there.
#ifndef FERRY_BENCH_TRANSPORTS_H_
#define FERRY_BENCH_TRANSPORTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "bench/peer.h"
#include "bench/raw_peer.h"
#include "transports/transport.h"

namespace ferry::bench {

struct BenchTransport {
  // The name in --transports and in the results' "transport" field: "uds", "tcp".
  absl::string_view name;
  // Ferry's address scheme for it: "unix", "tcp".
  absl::string_view scheme;
  // The results' "variant" (transport options such as backing or wake-up); "" if none.
  absl::string_view variant;
  // The address a local peer of `impl` listens on. `dir` is a fresh, private directory
  // with a short path (for socket files); "tcp://127.0.0.1:0" style addresses are fine.
  std::string (*local_address)(absl::string_view dir, Impl impl);
  // Remote mode: the address of `impl`'s peer, given the Ferry peer's (bound) address,
  // which is the one `--serve` and `--connect` name. INVALID_ARGUMENT if there is none.
  absl::StatusOr<std::string> (*peer_address)(const Address& ferry_address, Impl impl);
  // The raw floor. Never null; lives forever.
  const RawMechanism* raw;
  // Whether grpc++ serves over it (only unix: and tcp:).
  bool grpc;
  // True for exec: (pipes to a child): the client spawns its server, one per connection.
  // Local mode then starts no server child; `local_address` is the client's exec:
  // address, which runs this program with --serve=stdio:- (`scheme` is "stdio", what
  // that child serves). No remote mode.
  bool client_spawns_server = false;
};

// Every mechanism, in the order rows are shown.
absl::Span<const BenchTransport> BenchTransports();

// nullptr if unknown.
const BenchTransport* FindTransportByName(absl::string_view name);
const BenchTransport* FindTransportByScheme(absl::string_view scheme);

// Helpers for table entries.
// "unix:<dir>/<impl>.sock".
std::string SocketFileInDir(absl::string_view dir, Impl impl);
// "tcp://127.0.0.1:0".
std::string LoopbackTcpAnyPort(absl::string_view dir, Impl impl);
// The Ferry address with ".raw" / ".grpc" appended to its target (paths, names).
absl::StatusOr<std::string> SuffixedTarget(const Address& ferry_address, Impl impl);
// "tcp://host:P" -> raw on P+1, grpc on P+2.
absl::StatusOr<std::string> ConsecutivePorts(const Address& ferry_address, Impl impl);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_TRANSPORTS_H_
