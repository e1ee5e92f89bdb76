// MsgqConnection: a ferry::Connection over kernel message queues, shared by mq:// and
// sysv://.
//
// Overview: Send() cuts its frames into pieces (piece.h) of the destination queue's
// message size — a small call is one queue message — and sends them in order; a Send()
// of only CANCEL/GOAWAY frames that fits one message goes as an urgent control piece that
// overtakes queued data. Receive() takes pieces from its source — the connection's own
// queue (client side) or its slot of the server's shared queue (server side, Hub) — and
// reassembles frames (Assembler). What differs between the mechanisms (which queue, which
// channel, how to clean up) is given in MsgqEndpoint by the transport.
//
// No hang-up exists on a queue, so:
//   - Close() sends a kClose piece after the data (in order; bounded wait if full) and
//     wakes this side's blocked Receive with a kWake piece or the hub.
//   - a peer killed with SIGKILL is noticed through its pidfd, checked whenever a wait has
//     lasted a slice (250 ms) — every wait is sliced, so death is seen within ~0.3 s.
//   - a Send() blocked on a full queue looks at its inbound side every slice without
//     blocking: it learns of a kClose there and (SysV, where requests and replies share
//     one queue) drains its own messages into memory so the queue cannot deadlock.
//
// Threading and errors: as documented on ferry::Connection. Send() is serialised by a
// timed mutex; a failure after part of a unit went out closes the connection
// (DEADLINE_EXCEEDED "... after a partial send"). Receive(): malformed pieces -> sticky
// INVALID_ARGUMENT; frame above the limit -> sticky RESOURCE_EXHAUSTED; peer closed or
// dead, or connection closed -> UNAVAILABLE (after every frame the peer sent before).
#ifndef FERRY_TRANSPORTS_MSGQ_MSGQ_CONNECTION_H_
#define FERRY_TRANSPORTS_MSGQ_MSGQ_CONNECTION_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "runtime/frame.h"
#include "transports/msgq/hub.h"
#include "transports/msgq/piece.h"
#include "transports/msgq/process.h"
#include "transports/msgq/queue.h"
#include "transports/stream/fd.h"
#include "transports/transport.h"

namespace ferry::msgq {

// How long any wait lasts before liveness and close are looked at again.
inline constexpr absl::Duration kWaitSlice = absl::Milliseconds(250);
// A Send() blocked on a full queue looks at its inbound side this often.
inline constexpr absl::Duration kSendSlice = absl::Milliseconds(20);

// What a mechanism hands to the shared connection.
struct MsgqEndpoint {
  uint32_t conn = 0;
  // Where this side sends (the peer reads it).
  std::shared_ptr<MsgQueue> out;
  long out_channel = 0;
  long out_urgent_channel = 0;
  // Where this side receives: either its own queue/channel (client)...
  std::shared_ptr<MsgQueue> in;
  long in_channel = 0;
  // ...or its slot of the server's shared queue.
  std::shared_ptr<Hub> hub;
  std::shared_ptr<Hub::Slot> slot;
  PeerProcess peer;
  std::string description;
  // Client only: true once the server's Accept() took the connection. Until then a server
  // that closed its listener without accepting is detected with `listener_gone`.
  bool accepted = true;
  std::function<bool()> listener_gone;
  // Runs once, when the connection is closed and no call is inside: closes descriptors,
  // removes what this side owns. `peer_dead`: the peer process is gone; `peer_closed`: it
  // sent kClose (so nothing more will be read from what it owned).
  std::function<void(bool peer_dead, bool peer_closed)> release;
  // Most bytes of pieces a blocked Send() drains into memory.
  size_t drain_limit = 16u << 20;
};

class MsgqConnection final : public Connection {
 public:
  MsgqConnection(MsgqEndpoint endpoint, const ConnectionLimits& limits);
  ~MsgqConnection() override;

  absl::Status Send(absl::Span<const OutFrame> frames, absl::Time deadline) override;
  absl::StatusOr<Frame> Receive(absl::Time deadline) override;
  void Close() override;
  std::string PeerDescription() const override { return e_.description; }

  // Queue messages sent so far (data and control pieces), for tests of fragmentation.
  uint64_t pieces_sent() const { return pieces_sent_.load(std::memory_order_relaxed); }
  // The largest message this side sends (the destination queue's message size).
  size_t max_message() const { return out_max_; }

 private:
  absl::Status SendPiece(absl::string_view message, bool urgent, absl::Time deadline);
  // One message from the inbound side into rx_ (blocking until `until`).
  absl::StatusOr<size_t> Fetch(absl::Time until);
  // Handles one inbound message; a frame may become ready in asm_ or control_frames_.
  absl::Status Handle(absl::string_view message);
  // Without blocking: takes what is waiting on the inbound side into side_inbox_ (only if
  // no Receive() is running). Called by a Send() that waited a slice on a full queue.
  void PollInbound();
  bool PeerGone() const;
  absl::Status Unavailable(absl::string_view why) const;

  MsgqEndpoint e_;
  const uint32_t max_payload_;
  const size_t out_max_;
  CloseGate gate_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> peer_closed_{false};
  std::atomic<bool> accepted_{true};
  std::atomic<uint64_t> pieces_sent_{0};

  // Send side.
  std::timed_mutex send_mu_;
  uint32_t send_seq_ = 0;             // guarded by send_mu_
  std::unique_ptr<char[]> tx_;        // guarded by send_mu_: one piece being built

  // Receive side: recv_mu_ is held by Receive() throughout and by PollInbound().
  std::mutex recv_mu_;
  std::unique_ptr<char[]> rx_;
  size_t rx_size_ = 0;
  Assembler asm_;
  std::string control_buf_;
  std::deque<Frame> control_frames_;  // views into control_buf_
  std::deque<std::string> side_inbox_;
  size_t side_inbox_bytes_ = 0;
  absl::Status sticky_;
};

}  // namespace ferry::msgq

#endif  // FERRY_TRANSPORTS_MSGQ_MSGQ_CONNECTION_H_
