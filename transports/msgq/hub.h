// The server's side of a shared request queue: leader/follower demultiplexing.
//
// Overview: every client of a server sends into one queue (POSIX: the server's request
// queue; SysV: the request types of the server's one queue). Ferry's Server waits on each
// connection with its own thread (Receive()) and on the listener with another (Accept()).
// A demultiplexing thread that reads the queue and hands each message to its connection's
// thread would cost a thread wake-up per request (5-30 us), several times the queue's own
// cost. Instead, whoever waits and finds nobody reading becomes the reader (the leader):
// it receives straight into its own buffer, keeps what is its own and returns with it —
// one receive, no hand-off — and queues what belongs to others in their inboxes, waking
// them. With one busy connection its thread is always the reader, exactly like the raw
// ping-pong.
//
// Who may lead: a connection waiter whenever nobody reads; the Accept() waiter only when no
// connection waiter is waiting (otherwise the accept thread would become the steady
// reader and every request would take a hand-off). A leader leaving with its own message
// wakes one waiting connection to take over; the accept waiter is not woken for that but
// looks again at the end of each wait slice (250 ms), so a new connection is noticed even
// while every connection thread is busy in a handler.
//
// Bounds: an inbox holds at most `inbox_limit` bytes. A connection whose client runs
// further ahead of the server reading it fails with RESOURCE_EXHAUSTED (its pieces are
// dropped): the shared queue must keep moving for everyone else.
//
// Threading: thread-safe. Next() on one slot is called by one thread at a time.
#ifndef FERRY_TRANSPORTS_MSGQ_HUB_H_
#define FERRY_TRANSPORTS_MSGQ_HUB_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "transports/msgq/queue.h"

namespace ferry::msgq {

// The conn value of a kWake piece meant for whoever reads it.
inline constexpr uint32_t kAnyConn = 0xFFFFFFFFu;
// The slot of the Accept() waiter.
inline constexpr uint32_t kAcceptConn = 0;

class Hub {
 public:
  struct Slot {
    explicit Slot(uint32_t c) : conn(c) {}
    const uint32_t conn;
    // Set when a kClose piece for this connection was routed (so a blocked Send learns it
    // without reading), or when the inbox overflowed.
    std::atomic<bool> peer_closed{false};
    std::atomic<bool> overflow{false};
    // Guarded by the hub's mutex.
    std::deque<std::string> inbox;
    size_t inbox_bytes = 0;
    bool waiting = false;
    bool closed = false;
    bool claimed = false;  // false: made when its OPEN was read, not yet Register()ed
    std::condition_variable cv;
  };

  // `channel` is what Next() receives from `queue` (SysV: -2, the request types); wake-ups
  // are posted to `wake_channel` with `wake_urgent`.
  Hub(std::shared_ptr<MsgQueue> queue, long channel, long wake_channel, size_t inbox_limit);

  const std::shared_ptr<MsgQueue>& queue() const { return queue_; }

  // A slot for connection `conn` (kAcceptConn for the listener); nullptr if taken.
  // The slot already exists, unclaimed, if its OPEN went through the hub: whoever reads an
  // OPEN makes the slot at once, so the client's next pieces — which another connection's
  // thread may read before Accept() gets to the OPEN — wait in its inbox.
  std::shared_ptr<Slot> Register(uint32_t conn);
  void Unregister(uint32_t conn);

  // The next message for `slot`, copied or received into `buf` (queue()->max_message()
  // bytes): a message from its inbox, or one received while leading. Returns its size;
  // DEADLINE_EXCEEDED when `until` passes (a time in the past only looks); UNAVAILABLE
  // once the slot is closed or the queue removed. Messages that cannot be attributed to a
  // registered connection are dropped.
  absl::StatusOr<size_t> Next(Slot& slot, char* buf, absl::Time until);

  // Makes a Next() on `slot` return soon (closes the slot: later calls return UNAVAILABLE).
  void CloseSlot(Slot& slot);

 private:
  // Both with mu_ held.
  void WakeSuccessor(const Slot* leaving);
  // Routes a message read by the leader for someone else.
  void Route(absl::string_view message);
  void Reserve(absl::string_view open_piece);

  const std::shared_ptr<MsgQueue> queue_;
  const long channel_;
  const long wake_channel_;
  const size_t inbox_limit_;

  // std::mutex, not absl::Mutex: Debian's abseil has deadlock detection on, which makes
  // every absl::Mutex lock several times dearer, and this one is taken on every message.
  std::mutex mu_;
  absl::flat_hash_map<uint32_t, std::shared_ptr<Slot>> slots_;  // guarded by mu_
  Slot* leader_ = nullptr;                                       // guarded by mu_
  int connection_waiters_ = 0;                                   // guarded by mu_
};

}  // namespace ferry::msgq

#endif  // FERRY_TRANSPORTS_MSGQ_HUB_H_
