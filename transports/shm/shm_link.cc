#include "transports/shm/shm_link.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "transports/shm/hangup_watch.h"

namespace ferry::shm {

int64_t DeadlineNs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  if (deadline == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
  return absl::ToUnixNanos(deadline);  // saturates for times beyond the int64 range
}

Link::Link(Endpoint endpoint) : ep_(std::move(endpoint)) {
  SegmentHeader* h = ep_.segment.header();
  const uint64_t cap = ep_.segment.layout().ring_capacity;
  const bool client = ep_.side == Side::kClient;
  RingControl* out = client ? &h->requests : &h->replies;
  RingControl* in = client ? &h->replies : &h->requests;
  out_ = RingWriter(out, client ? ep_.segment.request_data() : ep_.segment.reply_data(), cap);
  in_ = RingReader(in, client ? ep_.segment.reply_data() : ep_.segment.request_data(), cap);
  out_data_ = &out->data;
  out_space_ = &out->space;
  in_data_ = &in->data;
  in_space_ = &in->space;
  my_closed_ = client ? &h->client_closed : &h->server_closed;
  peer_closed_ = client ? &h->server_closed : &h->client_closed;

  Doorbell base;
  base.mode = ep_.wake;
  base.spin_ns = ep_.spin_ns;
  base.signo = ep_.signo;
  const pid_t self = ::getpid();
  // event_fds are indexed {requests.data, requests.space, replies.data, replies.space}.
  auto efd = [&](int i) { return ep_.event_fds[i].get(); };
  const int out_base = client ? 0 : 2;
  const int in_base = client ? 2 : 0;
  out_data_bell_ = base;
  out_data_bell_.waiter_pid = ep_.peer_pid;
  out_data_bell_.event_fd = efd(out_base);
  out_space_bell_ = base;
  out_space_bell_.waiter_pid = self;
  out_space_bell_.event_fd = efd(out_base + 1);
  out_space_bell_.hangup_fd = ep_.socket.get();
  in_data_bell_ = base;
  in_data_bell_.waiter_pid = self;
  in_data_bell_.event_fd = efd(in_base);
  in_data_bell_.hangup_fd = ep_.socket.get();
  in_space_bell_ = base;
  in_space_bell_.waiter_pid = ep_.peer_pid;
  in_space_bell_.event_fd = efd(in_base + 1);

  // Futex and signal sleepers cannot watch the socket themselves: the process's watch
  // thread wakes them on a hang-up. Then, as with eventfd (whose ppoll includes the
  // socket), their sleep slices are only a backstop and may be long, and an idle
  // connection makes no wake-ups. Signals from a peer of another uid may be refused
  // (EPERM) and then only the slice ends a sleep: keep it short there.
  if (ep_.wake == WakeMode::kFutex || ep_.wake == WakeMode::kSignal) {
    hangup_watch_ = HangupWatch::Watch(ep_.socket.get(), &Link::OnHangup, this);
  }
  const bool hangup_wakes = ep_.wake == WakeMode::kEventFd || hangup_watch_ != 0;
  const bool doorbells_may_fail = ep_.wake == WakeMode::kSignal && ep_.peer_uid != ::geteuid();
  if (hangup_wakes && !doorbells_may_fail) {
    in_data_bell_.slice_ns = kBackstopBlockSliceNs;
    out_space_bell_.slice_ns = kBackstopBlockSliceNs;
  }

  release_batch_ = cap / 4;
  // An eighth of the ring (at least 16 KiB): big enough that the per-piece publish and
  // possible wake-up are noise next to the copy, small enough for reader and writer to
  // overlap on large messages.
  publish_chunk_ = std::max<uint64_t>(cap / 8, std::min<uint64_t>(cap, 16 << 10));
}

Link::~Link() {
  // Before the socket is closed and the segment unmapped (the members go after this).
  HangupWatch::Unwatch(hangup_watch_);
}

void Link::OnHangup(void* arg) {
  Link* link = static_cast<Link*>(arg);
  link->hung_up_.store(true, std::memory_order_release);
  link->WakeOwnWaitersAfterFlag();
}

void Link::WakeOwnWaitersAfterFlag() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  Wake(*in_data_, in_data_bell_);
  Wake(*out_space_, out_space_bell_);
}

bool Link::Stop(bool slow, bool ring_corrupt) {
  if (closed_.load(std::memory_order_acquire) || ring_corrupt) return true;
  if (peer_closed_->load(std::memory_order_acquire) != 0) return true;
  if (hung_up_.load(std::memory_order_acquire)) return true;
  if (!slow) return false;
  pollfd p{ep_.socket.get(), POLLRDHUP, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) != 0) {
    hung_up_.store(true, std::memory_order_relaxed);
    return true;
  }
  return false;
}

Link::Io Link::Outcome(WaitResult r, bool ring_corrupt) const {
  switch (r) {
    case WaitResult::kReady:
      return Io::kOk;
    case WaitResult::kTimedOut:
      return Io::kTimedOut;
    case WaitResult::kStopped:
      break;
  }
  if (closed_.load(std::memory_order_acquire)) return Io::kClosed;
  if (ring_corrupt) return Io::kCorrupt;
  return Io::kPeerGone;
}

Link::Io Link::WaitReadable(uint64_t n, int64_t deadline_ns) {
  if (in_.Available(n) >= n) return Io::kOk;
  // About to wait: hand back everything consumed so far first, so the writer is never
  // kept waiting for room by a reader that is itself waiting.
  Release();
  const WaitResult r = Wait(
      *in_data_, in_data_bell_, deadline_ns, [&] { return in_.Available(n) >= n; },
      [&](bool slow) { return Stop(slow, in_.corrupt()); }, &read_spin_);
  return Outcome(r, in_.corrupt());
}

Link::Io Link::WaitWritable(uint64_t n, int64_t deadline_ns) {
  const WaitResult r = Wait(
      *out_space_, out_space_bell_, deadline_ns, [&] { return out_.Free(n) >= n; },
      [&](bool slow) { return Stop(slow, out_.corrupt()); }, &write_spin_);
  return Outcome(r, out_.corrupt());
}

Link::Io Link::Write(const char* p, uint64_t n, int64_t deadline_ns, bool* published_any) {
  while (n > 0) {
    uint64_t free = out_.Free(std::min(n, publish_chunk_));
    if (free == 0) {
      // Full: let the reader drain what is there, then wait for a useful amount of room
      // (not a single byte, which would wake us once per released piece).
      if (out_.unpublished() > 0) {
        Publish();
        *published_any = true;
      }
      const Io io = WaitWritable(std::min({n, publish_chunk_, out_.capacity()}), deadline_ns);
      if (io != Io::kOk) return io;
      continue;
    }
    const uint64_t piece = std::min({n, free, publish_chunk_});
    out_.Write(p, piece);
    p += piece;
    n -= piece;
    if (n > 0 && out_.unpublished() >= publish_chunk_) {
      Publish();
      *published_any = true;
    }
  }
  return Io::kOk;
}

void Link::Shutdown() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  my_closed_->store(1, std::memory_order_release);
  // Unconditional wakes: our own waiters (blocked Receive/Send on other threads) and the
  // peer's (its closed flag is ours). A wake nobody waits for costs one system call, once.
  WakeOwnWaitersAfterFlag();
  Wake(*out_data_, out_data_bell_);
  Wake(*in_space_, in_space_bell_);
  ::shutdown(ep_.socket.get(), SHUT_RDWR);
}

std::string Link::PeerGoneReason() {
  if (peer_closed_->load(std::memory_order_acquire) != 0) return "peer closed the connection";
  if (ep_.side == Side::kClient) {
    std::call_once(refusal_once_, [this] { refusal_ = ReadRefusal(ep_.socket.get()); });
    if (!refusal_.ok()) {
      return absl::StrCat("the server refused the connection: ", refusal_.message());
    }
  }
  return "peer hung up (its process exited or was killed)";
}

}  // namespace ferry::shm
