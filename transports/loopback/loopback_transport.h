// The in-process loopback transport: "inproc:name".
//
// Overview: an in-memory transport for tests and examples that need no sockets (KJ's
// two-way pipe, gRPC's inproc). A server and a channel in one process that share a
// TransportRegistry (and so one LoopbackTransport object) find each other by name; two
// LoopbackTransport objects never see each other's names. There is no global state.
//
// Semantics follow ferry::Connection exactly, as a stream transport would behave:
//   - frames are copied on Send() and delivered whole, in order; a Send() is atomic (all
//     its frames are queued together or none), so the peer never sees part of one;
//   - each direction buffers up to Options::buffer_bytes; Send() blocks beyond that until
//     its deadline (DEADLINE_EXCEEDED, nothing sent);
//   - the receiver checks each header with FrameHeader::Parse against its own
//     ConnectionLimits (oversized -> RESOURCE_EXHAUSTED, malformed -> INVALID_ARGUMENT,
//     both sticky);
//   - Close() on one end: its calls return UNAVAILABLE at once; the peer first receives
//     what was already sent to it, then UNAVAILABLE; the peer's Send() fails at once.
//   - Connect() to a name nobody listens on -> UNAVAILABLE; Listen() on a name in use ->
//     ALREADY_EXISTS. Listener::Close() frees the name and closes connections not yet
//     accepted.
//
// Fault injection (Options): frames are numbered per connection, both directions
// together, in the order Send() queues them (0, 1, 2, ...).
//
// Threading: everything is thread-safe as documented on the seam. Listeners and
// connections may outlive the LoopbackTransport that made them.
//
// Example:
//   ferry::LoopbackTransport::Options faults;
//   faults.drop_after_frames = 3;   // the connection dies after the 3rd frame
//   auto registry = std::make_shared<ferry::TransportRegistry>();
//   registry->Register(std::make_unique<ferry::LoopbackTransport>(faults));
//   // server listens on "inproc:kv", channel connects to "inproc:kv"
#ifndef FERRY_TRANSPORTS_LOOPBACK_LOOPBACK_TRANSPORT_H_
#define FERRY_TRANSPORTS_LOOPBACK_LOOPBACK_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/transport.h"

namespace ferry {

namespace loopback_internal {
struct Names;
}  // namespace loopback_internal

class LoopbackTransport final : public Transport {
 public:
  struct Options {
    // Bytes (16-byte headers + payloads) one direction holds before Send() blocks. A Send()
    // into an empty direction always proceeds, however large.
    size_t buffer_bytes = size_t{1} << 20;

    // Fault: after this many frames have been sent on a connection (both directions
    // together), it breaks as if both processes had died right after the last one: frames
    // already sent are still delivered, then every Receive() returns UNAVAILABLE; every
    // later Send() returns UNAVAILABLE. A Send() that crosses the limit queues the frames
    // up to it and returns UNAVAILABLE. -1: never.
    int64_t drop_after_frames = -1;

    // Fault: each frame becomes visible to the receiver this long after it was sent
    // (order is kept). Zero: at once.
    absl::Duration delivery_delay = absl::ZeroDuration();

    // Fault: the frame with this number arrives with a corrupted header (bad magic), so the
    // receiver's Receive() returns INVALID_ARGUMENT and that end is unusable, as on a stream
    // transport that lost frame sync. -1: never.
    int64_t corrupt_frame = -1;
  };

  LoopbackTransport() : LoopbackTransport(Options{}) {}
  explicit LoopbackTransport(const Options& options);
  ~LoopbackTransport() override;

  absl::string_view scheme() const override { return "inproc"; }
  // The target is any non-empty name; no address options.
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                   const ConnectionLimits& limits) override;
  // Never blocks: the connection is queued for Accept() at once. `deadline` is unused.
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                      const ConnectionLimits& limits,
                                                      absl::Time deadline) override;

 private:
  const Options options_;
  // Shared with the listeners, so a listener can free its name after the transport is gone.
  std::shared_ptr<loopback_internal::Names> names_;
};

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_LOOPBACK_LOOPBACK_TRANSPORT_H_
