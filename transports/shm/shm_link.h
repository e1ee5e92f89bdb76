// One side of an established shm connection: its outgoing ring's writer, its incoming
// ring's reader, the doorbells of the four wait channels, and the liveness checks.
// The building block of ShmConnection (Ferry frames) and RawShmEndpoint (the raw floor).
//
// Which side waits where:
//                    requests ring (client -> server)   replies ring (server -> client)
//   data channel     server waits, client notifies      client waits, server notifies
//   space channel    client waits, server notifies      server waits, client notifies
// So each process waits on two channels (its in.data and its out.space) and notifies the
// other two. A doorbell names the process whose thread waits on that channel, for signals.
//
// Liveness: the peer is gone when its closed flag in the segment is set (it called
// Shutdown) or the rendezvous socket reports a hang-up (it closed the socket or its
// process died). The flag costs one load of a line that stays in the cache. A hang-up
// wakes a sleeping waiter: eventfd waiters poll the socket in the same ppoll, futex and
// signal waiters are woken by the process's HangupWatch (hangup_watch.h). Besides, the
// socket is polled (one system call) by spinners every few ms, by sleepers whose
// backstop slice ran out, and once by a wait whose deadline has already passed.
//
// Threading: one writer thread (Write/Publish/WaitWritable) and one reader thread
// (WaitReadable/Release) at a time; Shutdown() from any thread at any time. The owner
// destroys the Link only when no call is inside it.
#ifndef FERRY_TRANSPORTS_SHM_SHM_LINK_H_
#define FERRY_TRANSPORTS_SHM_SHM_LINK_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "transports/shm/shm_ring.h"
#include "transports/shm/shm_setup.h"
#include "transports/shm/shm_wait.h"

namespace ferry::shm {

// absl::Time -> CLOCK_REALTIME nanoseconds, saturating (InfiniteFuture -> INT64_MAX).
int64_t DeadlineNs(absl::Time deadline);

class Link {
 public:
  enum class Io {
    kOk,
    kTimedOut,  // the deadline passed
    kClosed,    // Shutdown() was called on this side
    kPeerGone,  // the peer shut down, closed its socket or died
    kCorrupt,   // the peer wrote an impossible ring index
  };

  explicit Link(Endpoint endpoint);
  // Unmaps the segment and closes the descriptors. Does not Shutdown(): an owner that
  // destroys a Link without Shutdown() first leaves the peer to notice the hang-up.
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  RingWriter& out() { return out_; }
  RingReader& in() { return in_; }
  const Endpoint& endpoint() const { return ep_; }

  // Waits until in().Available(n) >= n (n <= capacity). Before it would wait, it
  // Release()s whatever was consumed.
  Io WaitReadable(uint64_t n, int64_t deadline_ns);
  // Waits until out().Free(n) >= n (n <= capacity).
  Io WaitWritable(uint64_t n, int64_t deadline_ns);

  // Writes all `n` bytes, waiting for room as needed. Bytes are published in pieces while
  // the ring is full or the data is large, so the reader drains while we write; the last
  // piece is left unpublished for the caller's Publish() (one publish per message batch).
  // `*published_any` is set when some of these bytes became visible to the peer.
  Io Write(const char* p, uint64_t n, int64_t deadline_ns, bool* published_any);

  // Large writes are published in pieces of this many bytes (see Write()).
  uint64_t publish_chunk() const { return publish_chunk_; }

  // out().Publish() and wake the reader if it sleeps.
  void Publish() {
    if (out_.Publish()) Notify(*out_data_, out_data_bell_);
  }
  // in().Release() and wake the writer if it sleeps.
  void Release() {
    if (in_.Release()) Notify(*in_space_, in_space_bell_);
  }
  // Releases only once a quarter of the ring is consumed and unreleased. Readers call this
  // between messages: a release costs a store the writer must fetch and, with a sleeping
  // wake-up mode, a fence; WaitReadable() releases the rest before it waits, so deferring
  // never keeps the writer waiting.
  void ReleaseInBatches() {
    if (in_.unreleased() >= release_batch_) Release();
  }

  // Whether the peer has set its closed flag (one shared load; no system call).
  bool PeerClosed() const { return peer_closed_->load(std::memory_order_acquire) != 0; }

  // Marks this side closed in the segment, wakes every waiter of both sides and shuts the
  // socket down (the peer sees a hang-up). Idempotent; thread-safe.
  void Shutdown();
  bool shut_down() const { return closed_.load(std::memory_order_acquire); }

  // Why the peer is gone, for error messages: it closed, it refused us (with the server's
  // reason), or it hung up without a word (exited or was killed).
  std::string PeerGoneReason();

 private:
  // For Wait(): true once the wait must end (closed, peer gone, or `ring_corrupt`).
  bool Stop(bool slow, bool ring_corrupt);
  // HangupWatch's callback (on its thread): marks the peer gone and wakes our waiters.
  static void OnHangup(void* link);
  // After a flag Stop() tests was set: a fence, then wakes this side's two waiters. The
  // fence orders the flag before their `waiting` words (see Wait()): a waiter about to
  // sleep either sees the flag in its stop(false) re-check or gets the wake.
  void WakeOwnWaitersAfterFlag();
  Io Outcome(WaitResult r, bool ring_corrupt) const;

  Endpoint ep_;
  RingWriter out_;
  RingReader in_;
  WaitWord* out_data_;
  WaitWord* out_space_;
  WaitWord* in_data_;
  WaitWord* in_space_;
  Doorbell out_data_bell_;   // the peer waits
  Doorbell out_space_bell_;  // we wait
  Doorbell in_data_bell_;    // we wait
  Doorbell in_space_bell_;   // the peer waits
  // Adaptive spin state of our two wait sites (reader thread, writer thread).
  SpinBudget read_spin_;
  SpinBudget write_spin_;
  std::atomic<uint32_t>* my_closed_;
  std::atomic<uint32_t>* peer_closed_;
  // Publish large writes in pieces of this size so the reader overlaps with the writer.
  uint64_t publish_chunk_;
  uint64_t release_batch_;

  std::atomic<bool> closed_{false};
  std::atomic<bool> hung_up_{false};
  uint64_t hangup_watch_ = 0;  // HangupWatch handle; 0: not watched
  std::once_flag refusal_once_;
  absl::Status refusal_;
};

}  // namespace ferry::shm

#endif  // FERRY_TRANSPORTS_SHM_SHM_LINK_H_
