// ShmConnection: a ferry::Connection over a pair of shared-memory rings.
//
// Overview: Ferry frames (16-byte header + payload, runtime/frame.h) are written back to
// back into the outgoing ring as a byte stream, exactly as on a socket, and read from the
// incoming ring. On the fast path neither Send() nor Receive() makes a system call or
// allocates: Send() copies headers and payloads into the ring and publishes once per call;
// Receive() returns a view straight into the ring when the whole payload is already there
// and does not wrap around the ring's end (zero copy), and otherwise copies the payload
// into a per-connection buffer as it streams in (frames larger than the ring take this
// path, releasing ring space piece by piece so the writer can continue).
//
// Threading and errors: exactly as documented on ferry::Connection. In particular:
//   - Send(): serialised by a mutex (waited for until the deadline); one call's frames are
//     contiguous in the ring. A call whose frames fit in the ring together is all or
//     nothing: it waits (until the deadline) for room for all of them, then writes and
//     publishes them at once, so a timeout leaves the connection usable. A larger call
//     streams through the ring, publishing pieces as room frees up; if it fails after
//     publishing some, the peer would see a torn frame, so the connection is closed
//     (DEADLINE_EXCEEDED "... after a partial send").
//   - Receive(): one thread at a time. The returned payload may point into the shared ring;
//     that space is handed back to the writer no earlier than the next Receive() (in
//     batches of a quarter ring, or before that call waits), which is why the view stays
//     valid until then. DEADLINE_EXCEEDED keeps a partly received frame
//     for the next call. Peer closed, died or refused us -> UNAVAILABLE (after every frame
//     it had published). Malformed header -> the FrameHeader::Parse error (payload above
//     limits.max_frame_payload -> RESOURCE_EXHAUSTED), sticky. Impossible ring indices
//     (a corrupt or hostile peer) -> INVALID_ARGUMENT, sticky.
//   - Close(): sets this side's closed flag in the segment, wakes every waiter of both
//     processes, shuts the rendezvous socket down; unmaps and closes descriptors once the
//     last call in flight has left (CallGate, shm_gate.h: no locked instruction on the
//     calls' path), so a late call never touches freed memory or a reused fd number.
//
// Memory ordering: see shm_ring.h (release/acquire on the ring indices) and shm_wait.h
// (the fences that keep wake-ups from being lost).
#ifndef FERRY_TRANSPORTS_SHM_SHM_CONNECTION_H_
#define FERRY_TRANSPORTS_SHM_SHM_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "runtime/frame.h"
#include "transports/shm/shm_gate.h"
#include "transports/shm/shm_link.h"
#include "transports/shm/shm_setup.h"
#include "transports/transport.h"

namespace ferry::shm {

class RingInputStream;

class ShmConnection final : public Connection {
 public:
  // Takes over an established endpoint (see shm_setup.h).
  static std::unique_ptr<ShmConnection> Create(Endpoint endpoint, const ConnectionLimits& limits);

  // Closes. No call may be in flight on another thread.
  ~ShmConnection() override;

  absl::Status Send(absl::Span<const OutFrame> frames, absl::Time deadline) override;
  // Serializes `message` straight into the ring: in place when the rest of the frame has
  // room there without wrapping, else through a stream over the ring's free space
  // (waiting for room, and publishing pieces, when the frame is larger than the ring).
  absl::Status SendMessage(const FrameHeader& header, absl::string_view prefix,
                           const google::protobuf::MessageLite& message, size_t message_size,
                           absl::Time deadline) override;
  absl::StatusOr<Frame> Receive(absl::Time deadline) override;
  // Streams a payload of at least `stream_from` bytes that is not already in the ring in
  // one piece (it is still arriving, wraps around the ring's end, or is larger than the
  // ring): ParseStreamedPayload() then parses it from the ring in place, handing space
  // back to the writer as it goes, so parsing overlaps the peer's writing and the payload
  // is never copied out whole.
  absl::StatusOr<Frame> ReceiveStreaming(absl::Time deadline, uint64_t stream_from) override;
  google::protobuf::io::ZeroCopyInputStream* StreamedPayload() override;
  absl::Status StreamedPayloadStatus() override;
  void Close() override;
  std::string PeerDescription() const override { return description_; }

 private:
  ShmConnection(Endpoint endpoint, const ConnectionLimits& limits);
  // Runs `send` (a SendLocked...) holding send_lock_ (waited for until `deadline`) and the
  // gate's send slot, unless the connection is closed.
  template <typename Fn>
  absl::Status WithSendLock(absl::Time deadline, Fn send);
  absl::Status SendLocked(absl::Span<const OutFrame> frames, absl::Time deadline);
  absl::Status SendMessageLocked(const FrameHeader& header, absl::string_view prefix,
                                 const google::protobuf::MessageLite& message,
                                 size_t message_size, absl::Time deadline);
  // A send that failed after publishing part of a frame: the peer can never
  // resynchronise, so the connection is closed.
  absl::Status FailPartialSend(Link::Io io, bool published_any);
  absl::Status IoError(Link::Io io, bool mid_frame);
  // Makes room in buffer_ for `n` bytes (no zero-fill).
  char* Buffer(uint64_t n);

  const std::string description_;
  const uint32_t max_payload_;
  std::unique_ptr<Link> link_;  // reset by the gate's release, when no call is inside
  CallGate gate_;

  // A timed lock so a Send() queued behind a blocked one still honours its deadline.
  TimedLock send_lock_;

  // Receive() stays in gate_'s receive slot from returning a frame until the next
  // Receive() (or the destructor): the frame's view may point into the ring, which the
  // gate's release unmaps, so a Close() from another thread must not unmap it under the
  // caller.
  bool receive_held_ = false;
  absl::StatusOr<Frame> ReceiveEntered(absl::Time deadline, uint64_t stream_from);
  absl::StatusOr<Frame> ReceiveInside(absl::Time deadline, uint64_t stream_from);
  // Receive side; one thread at a time (the caller serialises Receive()).
  absl::Status sticky_;       // a malformed frame or corrupt ring: the stream is lost
  bool have_header_ = false;  // header_ parsed; its payload is being received
  FrameHeader header_;
  uint64_t payload_got_ = 0;  // bytes of header_'s payload copied into buffer_
  // The last frame returned was streamed: stream_ reads its payload.
  bool stream_ready_ = false;
  // Bytes of the last streamed payload not yet read through stream_: the next Receive
  // skips them before it reads a header.
  uint64_t stream_left_ = 0;
  std::unique_ptr<RingInputStream> stream_;  // made on the first streamed frame
  // sticky_, once a streamed frame that ended early (torn) has been made its cause.
  absl::Status StickyError();
  std::unique_ptr<char[]> buffer_;
  uint64_t buffer_capacity_ = 0;
};

}  // namespace ferry::shm

#endif  // FERRY_TRANSPORTS_SHM_SHM_CONNECTION_H_
