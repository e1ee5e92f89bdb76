// StreamConnection: a ferry::Connection over any byte stream (Unix socket, TCP, pipes).
//
// Overview: the one framer every byte-stream transport shares. Send() writes all frames of
// one call with a single vectored write (16-byte headers plus the caller's payloads,
// borrowed, no copy), finishing partial writes and waiting for room only until the
// deadline. Receive() reads large chunks into one reusable per-connection buffer
// (StreamFramer) and returns views into it.
//
// Threading and errors: exactly as documented on ferry::Connection. In particular:
//   - Send() is serialised by a mutex; frames of one call are contiguous on the wire.
//     A Send() that has written part of its bytes when it fails (deadline, error) closes
//     the connection, since the stream has lost frame sync.
//   - Receive(): one thread at a time. DEADLINE_EXCEEDED keeps a partly received frame
//     buffered for the next Receive(). Peer end of stream -> UNAVAILABLE (and later Sends
//     return UNAVAILABLE too). A malformed header -> the FrameHeader::Parse error
//     (INVALID_ARGUMENT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED for a length above
//     limits.max_frame_payload, checked before anything is allocated); such an error is
//     sticky and the caller should Close().
//   - Close() shuts the stream down at once (waking blocked calls on both ends) and
//     destroys the ByteStream (closing its fds) when the last call in flight returns, so a
//     late call never touches a reused fd number.
//
// Example:
//   absl::StatusOr<ferry::Frame> f = conn->Receive(absl::Now() + absl::Seconds(1));
//   if (f.ok()) Use(f->header, f->payload);   // payload valid until the next Receive()
#ifndef FERRY_TRANSPORTS_STREAM_STREAM_CONNECTION_H_
#define FERRY_TRANSPORTS_STREAM_STREAM_CONNECTION_H_

#include <sys/uio.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "runtime/frame.h"
#include "transports/stream/byte_stream.h"
#include "transports/stream/fd.h"
#include "transports/stream/stream_framer.h"
#include "transports/transport.h"

namespace ferry {

class StreamConnection final : public Connection {
 public:
  // Takes ownership of `stream` (connected, ready for I/O). `peer_description` is what
  // PeerDescription() returns, e.g. "unix:/tmp/s.sock pid=12 uid=1000".
  static std::unique_ptr<StreamConnection> Create(std::unique_ptr<ByteStream> stream,
                                                  std::string peer_description,
                                                  const ConnectionLimits& limits);

  // Closes (see Close()). No call may be in flight on another thread.
  ~StreamConnection() override;

  absl::Status Send(absl::Span<const OutFrame> frames, absl::Time deadline) override;
  absl::StatusOr<Frame> Receive(absl::Time deadline) override;
  void Close() override;
  std::string PeerDescription() const override { return peer_description_; }

  // The receive buffer's size in bytes, for tests and metrics. Receive thread only.
  size_t receive_buffer_capacity() const { return framer_.capacity(); }

 private:
  StreamConnection(std::unique_ptr<ByteStream> stream, std::string peer_description,
                   const ConnectionLimits& limits);

  // Runs once, when the gate is closed and no call is inside.
  void Release();
  // Requires send_mu_.
  absl::Status WriteAll(absl::Time deadline);

  std::unique_ptr<ByteStream> stream_;
  const std::string peer_description_;
  CloseGate gate_;
  // Set when Receive() saw the peer's end of stream: the peer is gone, so Send() fails
  // fast instead of feeding a socket that will only answer with a reset.
  std::atomic<bool> peer_closed_{false};

  // std::mutex, not absl::Mutex: Debian's Abseil is built with deadlock detection on,
  // which adds a global graph update to every lock (measured: ~7% of a 10 us Unix socket
  // round trip). This lock is taken once per Send() on the hot path.
  std::mutex send_mu_;
  // Guarded by send_mu_. Reused by every Send() so the hot path does not allocate.
  std::vector<char> headers_;
  std::vector<struct iovec> iov_;

  // Receive() stays inside gate_ from returning a frame until the next Receive() (or the
  // destructor): the frame's view points into framer_'s buffer, which the gate's release
  // frees, so a Close() from another thread must not free it under the caller.
  bool receive_held_ = false;
  absl::StatusOr<Frame> ReceiveInside(absl::Time deadline);
  // Receive side; used by one thread at a time (the caller serialises Receive()).
  StreamFramer framer_;
};

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_STREAM_STREAM_CONNECTION_H_
