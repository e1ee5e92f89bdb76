// The transport seam: how Ferry moves whole frames between two processes.
//
// Overview: a Transport turns an address into a Listener (server side) or a Connection
// (client side). A Connection sends and receives whole frames (see runtime/frame.h) with
// a deadline. Every mechanism (Unix socket, TCP, shared memory, message queues, pipes,
// UDP) implements these three small classes; byte-stream mechanisms share one framer
// (transports/stream), message mechanisms implement Connection directly.
// Mechanism-specific knobs belong in that transport's own Options struct (given to its
// constructor, or parsed from the address's "?key=value" options), never here.
//
// Addresses are "scheme:rest", e.g. "unix:/tmp/ferry.sock", "tcp://127.0.0.1:5000",
// "tcp://[::1]:0", "shm://bench?backing=memfd". The scheme picks the Transport from a
// TransportRegistry, which main() or a factory builds explicitly (no static registrars).
//
// Example:
//   ferry::TransportRegistry registry;
//   registry.Register(std::make_unique<ferry::UdsTransport>());
//   absl::StatusOr<ferry::Address> addr = ferry::Address::Parse("unix:/tmp/s.sock");
//   auto listener = registry.Find("unix")->Listen(*addr, ferry::ConnectionLimits{});
#ifndef FERRY_TRANSPORTS_TRANSPORT_H_
#define FERRY_TRANSPORTS_TRANSPORT_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "google/protobuf/message_lite.h"
#include "runtime/frame.h"

namespace ferry {

// A parsed address. "tcp://[::1]:80?nodelay=1" -> scheme "tcp", target "[::1]:80",
// options {nodelay: 1}. "unix:/p" -> scheme "unix", target "/p". The "//" after the
// colon is optional and dropped.
struct Address {
  std::string scheme;
  std::string target;
  std::vector<std::pair<std::string, std::string>> options;
  bool slashes = false;  // written as "scheme://target"; kept by ToString()

  // INVALID_ARGUMENT for a missing scheme, an empty target or a malformed option list.
  static absl::StatusOr<Address> Parse(absl::string_view address);
  // Returns the option's value or nullptr.
  const std::string* Option(absl::string_view key) const;
  // INVALID_ARGUMENT naming the first option not in `known`.
  absl::Status CheckOptions(absl::Span<const absl::string_view> known) const;
  std::string ToString() const;
};

// Limits every connection enforces, whatever the mechanism.
struct ConnectionLimits {
  // The largest frame payload this side will receive. A peer frame above it is a protocol
  // violation: Receive() returns RESOURCE_EXHAUSTED and the connection is broken.
  uint32_t max_frame_payload = kDefaultMaxMessageSize;
};

// How long ParseStreamedPayload() waits for a peer that stopped sending in the middle of a
// frame. A writer mid-frame only waits for room the reader is making, so this fires only
// for a peer that is stopped or stuck.
inline constexpr absl::Duration kStreamStallLimit = absl::Seconds(1);

// The runtime receives with ReceiveStreaming() and streams payloads from this size, above
// the largest control frame: replies and unary requests are then parsed as they arrive.
inline constexpr uint64_t kStreamPayloadsFrom = uint64_t{kMaxControlPayload} + 1;

// For Connection::SendMessage implementations: RESOURCE_EXHAUSTED if prefix + message
// cannot be one frame, INVALID_ARGUMENT if `header` announces another payload length.
// Inline (a send checks it per frame); the error is built out of line.
inline absl::Status CheckMessageFrame(const FrameHeader& header, size_t prefix_size,
                                      size_t message_size);
absl::Status MessageFrameError(const FrameHeader& header, size_t prefix_size,
                               size_t message_size);
// The INTERNAL error of a message that did not serialize to the size it was sent with.
absl::Status SerializedSizeMismatch(const google::protobuf::MessageLite& message,
                                    size_t message_size);

// One end of an established connection.
//
// Threading: Send() may be called from several threads at once; the frames of one Send()
// call are delivered contiguously and in order. Receive() is called by one thread at a
// time (the caller serialises). Close() may be called from any thread, at any time, any
// number of times.
class Connection {
 public:
  virtual ~Connection() = default;

  // Sends `frames` in order, as one unit. Payloads are borrowed only during the call.
  // Blocks while the mechanism is full, until `deadline`. Errors: UNAVAILABLE (peer gone
  // or connection closed), DEADLINE_EXCEEDED (nothing or part sent; a partial send breaks
  // the connection, which is then closed), RESOURCE_EXHAUSTED (a frame is larger than the
  // mechanism can ever carry).
  virtual absl::Status Send(absl::Span<const OutFrame> frames, absl::Time deadline) = 0;

  // Sends one frame whose payload is `prefix` followed by `message` in its wire form:
  // `header.payload_length` must be prefix.size() + message_size, and `message_size` the
  // message's ByteSizeLong() computed just before (its cached size), with no change to
  // the message since. The message is serialized during the call; like Send(), nothing is
  // borrowed after it returns. Same errors as Send(), plus INTERNAL if the message does
  // not serialize to `message_size` bytes (then nothing was sent, or, if part of the
  // frame was already visible to the peer, the connection is closed).
  //
  // The default serializes into a per-thread buffer and calls Send(): no worse than the
  // caller doing it. A mechanism with buffers of its own (shm's ring) overrides it to
  // serialize straight into them, saving a copy of every payload.
  virtual absl::Status SendMessage(const FrameHeader& header, absl::string_view prefix,
                                   const google::protobuf::MessageLite& message,
                                   size_t message_size, absl::Time deadline);

  // Returns the next frame. Its payload view stays valid until the next Receive() or the
  // connection's destruction, even if another thread calls Close() meanwhile (a
  // mechanism whose buffers Close() would free keeps them until then; the next Receive()
  // then fails with UNAVAILABLE). Errors: DEADLINE_EXCEEDED (no complete frame by
  // `deadline`; the connection stays usable and a partly received frame is kept),
  // UNAVAILABLE (peer closed or
  // connection closed, also wakes a blocked Receive after Close()), INVALID_ARGUMENT /
  // FAILED_PRECONDITION / RESOURCE_EXHAUSTED (malformed or oversized frame: the
  // connection is unusable afterwards and the caller should Close() it).
  virtual absl::StatusOr<Frame> Receive(absl::Time deadline) = 0;

  // Receive() for a caller that can parse a large payload while it arrives. A frame whose
  // payload is at least `stream_from` bytes and not all there yet may come back with
  // `streamed` set and no payload: the caller then parses it with ParseStreamedPayload(),
  // overlapping the parse with the peer's sending, instead of waiting for a copy of the
  // whole payload first. The default never streams (it is Receive()); shm streams.
  virtual absl::StatusOr<Frame> ReceiveStreaming(absl::Time deadline, uint64_t stream_from);

  // The payload of the frame ReceiveStreaming() just returned with `streamed` set, as a
  // protobuf input stream of exactly its header.payload_length bytes, read in place as
  // they arrive; nullptr if that frame was not streamed. Valid until the next Receive;
  // whatever the caller has not read by then is skipped. Next() waits for more as long
  // as the peer keeps sending; it ends early only if the frame is torn (peer gone or
  // closed, no progress for kStreamStallLimit, a corrupt peer), which
  // StreamedPayloadStatus() then reports. For the receiving thread only.
  virtual google::protobuf::io::ZeroCopyInputStream* StreamedPayload();
  // OK unless the stream above ended early: then why (UNAVAILABLE, or INVALID_ARGUMENT for
  // a corrupt peer), and the connection is unusable (every later Receive fails too).
  virtual absl::Status StreamedPayloadStatus();

  // Parses the rest of StreamedPayload() into `message` (as ParseFromArray() would).
  // *parsed: whether the bytes were a valid `message`; invalid bytes leave the connection
  // usable (the rest of the payload is skipped by the next Receive). An error is
  // StreamedPayloadStatus() (the frame was torn), or FAILED_PRECONDITION if the last
  // frame was not streamed.
  absl::Status ParseStreamedPayload(google::protobuf::MessageLite* message, bool* parsed);

  // Idempotent. Releases the mechanism's resources, wakes blocked calls on both sides
  // (the peer sees UNAVAILABLE). Safe to call concurrently with Send()/Receive().
  virtual void Close() = 0;

  // Who is on the other end, for logs and ServerContext::peer(), e.g.
  // "unix:/tmp/s.sock pid=123 uid=1000" or "tcp://127.0.0.1:52112".
  virtual std::string PeerDescription() const = 0;
};

// A bound, listening endpoint.
class Listener {
 public:
  virtual ~Listener() = default;

  // Blocks until a peer connects. After Close() (from any thread) returns UNAVAILABLE.
  // Failures that concern one peer only (it hung up during set-up) are not returned; the
  // listener keeps waiting for the next peer.
  virtual absl::StatusOr<std::unique_ptr<Connection>> Accept() = 0;

  // Idempotent. Stops listening, wakes a blocked Accept(), removes anything the listener
  // created in the file system (socket file, FIFO, queue name).
  virtual void Close() = 0;

  // The bound address in canonical form, with port 0 resolved: "tcp://127.0.0.1:40123".
  virtual std::string address() const = 0;
};

// A mechanism. Implementations are stateless or internally synchronised: Listen() and
// Connect() may be called from any thread.
class Transport {
 public:
  virtual ~Transport() = default;

  // The address scheme this transport serves ("unix", "tcp", ...).
  virtual absl::string_view scheme() const = 0;

  // Errors: INVALID_ARGUMENT (bad address or option), ALREADY_EXISTS (address in use by a
  // live listener), PERMISSION_DENIED, RESOURCE_EXHAUSTED.
  virtual absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                           const ConnectionLimits& limits) = 0;

  // Errors: UNAVAILABLE (nobody listening, refused), DEADLINE_EXCEEDED, INVALID_ARGUMENT.
  virtual absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                              const ConnectionLimits& limits,
                                                              absl::Time deadline) = 0;
};

// Maps schemes to transports. Built once (by main() or a factory such as
// ferry::DefaultTransports()), then shared read-only: Find() is thread-safe once
// registration is over.
class TransportRegistry {
 public:
  // ALREADY_EXISTS if the scheme is taken.
  absl::Status Register(std::unique_ptr<Transport> transport);
  // nullptr if no transport serves `scheme`.
  Transport* Find(absl::string_view scheme) const;
  std::vector<std::string> schemes() const;

 private:
  absl::flat_hash_map<std::string, std::unique_ptr<Transport>> transports_;
};

inline absl::Status CheckMessageFrame(const FrameHeader& header, size_t prefix_size,
                                      size_t message_size) {
  if (prefix_size + message_size <= std::numeric_limits<uint32_t>::max() &&
      message_size <= static_cast<size_t>(std::numeric_limits<int>::max()) &&
      header.payload_length == prefix_size + message_size) {
    return absl::OkStatus();
  }
  return MessageFrameError(header, prefix_size, message_size);
}

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_TRANSPORT_H_
