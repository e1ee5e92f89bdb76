// The raw floor: each mechanism's ping-pong with no RPC layer.
//
// Overview: a RawMechanism gives the bare mechanism (a plain socket, later a queue or a
// shared-memory ring) as whole messages: RawEndpoint::Send/Receive. The generic code
// here turns any RawMechanism into a benchmark peer: StartRawServer echoes every message
// back (one thread per connection, like Ferry's reader threads), NewRawPeerClient opens
// Callers that send a message and wait for the echo. The process layout is the same as
// for Ferry and gRPC: the raw server runs in its own process.
//
// The raw protocol: a message is a kind and a payload. kEcho carries the payload to echo
// (and the echo itself); kCpuRequest (empty payload) asks the server process for its CPU
// time, answered with a kEcho message of 16 bytes: user then system microseconds, each a
// big-endian uint64. Stream mechanisms encode a message as a 4-byte big-endian length
// followed by the payload, with the length 0xFFFFFFFF meaning kCpuRequest (see
// raw_stream.h); message mechanisms put one such message in each of theirs.
//
// Adding a mechanism's raw floor means implementing RawEndpoint, RawListener and
// RawMechanism for it (raw_stream.cc is the example for byte streams).
#ifndef FERRY_BENCH_RAW_PEER_H_
#define FERRY_BENCH_RAW_PEER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bench/peer.h"
#include "transports/transport.h"

namespace ferry::bench {

enum class RawKind : unsigned char { kEcho, kCpuRequest };

// One connected end. Send() and Receive() are each called by one thread at a time;
// Shutdown() from any thread.
class RawEndpoint {
 public:
  virtual ~RawEndpoint() = default;
  // Sends one whole message; blocks until the mechanism has taken it. UNAVAILABLE if the
  // peer is gone. `payload` is borrowed for the call only; kCpuRequest has none.
  virtual absl::Status Send(RawKind kind, absl::string_view payload) = 0;
  // Blocks for the next whole message; its payload replaces *payload (whose capacity is
  // reused, so a steady stream of equal sizes does not allocate). UNAVAILABLE when the
  // peer closed or after Shutdown(); INVALID_ARGUMENT / RESOURCE_EXHAUSTED for a message
  // that breaks the protocol (longer than kMaxPayload).
  virtual absl::StatusOr<RawKind> Receive(std::string* payload) = 0;
  // Wakes a blocked Receive() on this end (it returns UNAVAILABLE) and makes the peer's
  // Receive() fail. Idempotent.
  virtual void Shutdown() = 0;
};

class RawListener {
 public:
  virtual ~RawListener() = default;  // closes
  // Blocks until a peer connects; UNAVAILABLE after Close().
  virtual absl::StatusOr<std::unique_ptr<RawEndpoint>> Accept() = 0;
  // Idempotent; wakes Accept(); removes what Listen created in the file system.
  virtual void Close() = 0;
  // The bound address, port 0 resolved, in Ferry's syntax.
  virtual std::string address() const = 0;
};

// Stateless; thread-safe. Addresses use Ferry's syntax for the same mechanism.
class RawMechanism {
 public:
  virtual ~RawMechanism() = default;
  virtual absl::StatusOr<std::unique_ptr<RawListener>> Listen(const Address& address) const = 0;
  virtual absl::StatusOr<std::unique_ptr<RawEndpoint>> Connect(const Address& address,
                                                               absl::Time deadline) const = 0;
};

// What a raw peer does with each message besides carrying it.
enum class RawWork : unsigned char {
  kEcho,  // nothing: the bare mechanism (the "raw" rows)
  // The Echo call's protobuf work and nothing else of an RPC layer (the "rawpb" rows): the
  // client sends a serialized bench EchoRequest and parses the EchoReply that comes back;
  // the server parses the request, copies its payload into the reply (as the benchmark's
  // Echo handler does) and serializes it. A request that does not parse ends the
  // connection.
  kProtobuf,
};

// Serves the raw protocol on `address` until Shutdown(), doing `work` per message.
// `mechanism` must outlive the server.
absl::StatusOr<std::unique_ptr<PeerServer>> StartRawServer(const RawMechanism& mechanism,
                                                           const std::string& address,
                                                           RawWork work);

// The client half for a raw server at `address` that does the same `work`. `mechanism`
// must outlive the client.
absl::StatusOr<std::unique_ptr<PeerClient>> NewRawPeerClient(const RawMechanism& mechanism,
                                                             const std::string& address,
                                                             RawWork work);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_RAW_PEER_H_
