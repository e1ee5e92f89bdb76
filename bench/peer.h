// What the benchmark driver measures: a peer (a server in another process) reached through
// one implementation ("ferry", "raw" or "grpc") over one mechanism.
//
// Overview: each implementation provides both halves. The serving half
// (StartFerryServer, StartRawServer, StartGrpcServer in ferry_peer.h, raw_peer.h,
// grpc_peer.h) runs in the server process and echoes payloads. The client half, a
// PeerClient, opens Callers (one connection each, one thread each) and asks the server
// process for its CPU time. The driver (modes.h) only sees these interfaces, so every
// implementation is measured by the same loops.
//
// Threading: a Caller is used by one thread at a time; different Callers of one
// PeerClient may be used from different threads at once. PeerClient::ServerCpu() is
// thread-safe. PeerServer::Shutdown() may be called from any thread.
#ifndef FERRY_BENCH_PEER_H_
#define FERRY_BENCH_PEER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry::bench {

enum class Impl : unsigned char {
  kFerry,        // the generated Ferry stub against a Ferry server (HandlerThread::kInline)
  kRaw,          // the mechanism's own ping-pong, no RPC layer: the floor
  kRawProtobuf,  // the same ping-pong carrying the call's protobuf work, done the plain
                 // way (serialize into a buffer and send it; receive into a buffer and
                 // parse it): marshalling's share of a call, with no RPC layer. For small
                 // messages close to the floor of any protobuf RPC; for large ones Ferry,
                 // which serializes and parses in place where it can, is faster
  kGrpc,         // the gRPC stub of the same .proto against a grpc++ sync server
};
inline constexpr Impl kAllImpls[] = {Impl::kFerry, Impl::kRaw, Impl::kRawProtobuf,
                                     Impl::kGrpc};

// "ferry", "raw", "rawpb", "grpc".
absl::string_view ImplName(Impl impl);
// INVALID_ARGUMENT for anything but those names.
absl::StatusOr<Impl> ParseImpl(absl::string_view name);

// Process CPU time (all threads), in seconds.
struct CpuTimes {
  double user_s = 0;
  double system_s = 0;
  double total_s() const { return user_s + system_s; }
};
// getrusage(RUSAGE_SELF) of the calling process.
CpuTimes ProcessCpu();

// The largest payload ferry-bench sends; servers and clients accept messages up to this
// (plus framing) so that no size in a sweep trips a default message limit.
inline constexpr uint64_t kMaxPayload = uint64_t{256} << 20;

// One connection to a peer, sending payloads of a fixed size.
class Caller {
 public:
  virtual ~Caller() = default;
  // One round trip: sends the payload, waits for the echo and checks that it came back
  // whole (INTERNAL if its size differs). Errors are the implementation's (UNAVAILABLE
  // when the peer is gone, ...).
  virtual absl::Status Call() = 0;
};

// The client side of one running peer.
class PeerClient {
 public:
  virtual ~PeerClient() = default;
  // A new connection to the peer that sends `size`-byte payloads. The connection is
  // established (one untimed round trip done) when this returns, so set-up costs never
  // land in a measurement.
  virtual absl::StatusOr<std::unique_ptr<Caller>> NewCaller(uint64_t size) = 0;
  // The server process's CPU time so far, asked over a control connection of its own.
  virtual absl::StatusOr<CpuTimes> ServerCpu() = 0;
};

// A running server of one implementation, in this process.
class PeerServer {
 public:
  virtual ~PeerServer() = default;  // shuts down if still running
  // The bound address in Ferry's address syntax, port 0 resolved
  // ("tcp://127.0.0.1:40123", "unix:/tmp/x/raw.sock").
  virtual std::string address() const = 0;
  // Stops accepting, closes every connection, joins the server's threads. Idempotent.
  virtual void Shutdown() = 0;
};

// A fixed payload of `size` bytes (a repeating pattern, not zeros, so nothing on the way
// can shortcut it).
std::string MakePayload(uint64_t size);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_PEER_H_
