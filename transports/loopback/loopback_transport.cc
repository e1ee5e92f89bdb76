#include "transports/loopback/loopback_transport.h"

#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "runtime/frame.h"

namespace ferry {
namespace loopback_internal {

// One frame in flight. The header travels serialised so the receiver parses it like a
// stream transport would (limits, corruption).
struct Queued {
  absl::Time ready_at;
  char header[kFrameHeaderSize];
  std::string payload;
};

// Frames sent by one end, to be received by the other.
struct Direction {
  std::deque<Queued> frames;
  size_t bytes = 0;
  bool sender_gone = false;    // sender closed (or link dropped): drain, then UNAVAILABLE
  bool receiver_gone = false;  // receiver closed (or link dropped): Send fails at once
};

// The state both ends of one connection share. End `i` sends into dir[i] and receives
// from dir[1 - i].
struct Link {
  explicit Link(const LoopbackTransport::Options& o) : options(o) {}
  const LoopbackTransport::Options options;
  absl::Mutex mu;
  absl::CondVar changed;  // any queue or flag changed
  Direction dir[2] ABSL_GUARDED_BY(mu);
  bool closed[2] ABSL_GUARDED_BY(mu) = {false, false};
  int64_t frames_sent ABSL_GUARDED_BY(mu) = 0;
  bool dropped ABSL_GUARDED_BY(mu) = false;
};

struct ListenerState;

// The names one LoopbackTransport serves. Guards every listener's backlog too: loopback
// is for tests, one lock is plenty.
struct Names {
  absl::Mutex mu;
  absl::flat_hash_map<std::string, std::shared_ptr<ListenerState>> listening ABSL_GUARDED_BY(mu);
  uint64_t next_connection_id ABSL_GUARDED_BY(mu) = 1;
};

struct ListenerState {
  ConnectionLimits limits;
  absl::CondVar changed;
  std::deque<std::unique_ptr<Connection>> backlog;  // guarded by Names::mu
  bool closed = false;                              // guarded by Names::mu
};

namespace {

class LoopbackConnection final : public Connection {
 public:
  LoopbackConnection(std::shared_ptr<Link> link, int side, const ConnectionLimits& limits,
                     std::string peer)
      : link_(std::move(link)), side_(side), limits_(limits), peer_(std::move(peer)) {}
  ~LoopbackConnection() override { Close(); }

  absl::Status Send(absl::Span<const OutFrame> frames, absl::Time deadline) override {
    size_t total = 0;
    for (const OutFrame& f : frames) {
      if (f.header.payload_length != f.payload.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("frame header announces ", f.header.payload_length,
                         " payload bytes but the payload has ", f.payload.size()));
      }
      total += kFrameHeaderSize + f.payload.size();
    }
    Link& l = *link_;
    absl::MutexLock lock(&l.mu);
    Direction& out = l.dir[side_];
    for (;;) {
      if (l.closed[side_]) return absl::UnavailableError("connection closed");
      if (l.dropped) return DroppedError(l);
      if (out.receiver_gone) return absl::UnavailableError("peer closed the connection");
      if (out.bytes == 0 || out.bytes + total <= l.options.buffer_bytes) break;
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError("loopback buffer full until the deadline");
      }
      l.changed.WaitWithDeadline(&l.mu, deadline);
    }
    const absl::Time ready_at = absl::Now() + l.options.delivery_delay;
    bool crossed_limit = false;
    for (const OutFrame& f : frames) {
      if (l.options.drop_after_frames >= 0 && l.frames_sent >= l.options.drop_after_frames) {
        crossed_limit = true;
        break;
      }
      Queued& q = out.frames.emplace_back();
      q.ready_at = ready_at;
      f.header.Serialize(q.header);
      if (l.frames_sent == l.options.corrupt_frame) q.header[0] ^= 0x5A;  // breaks the magic
      q.payload.assign(f.payload.data(), f.payload.size());
      out.bytes += kFrameHeaderSize + f.payload.size();
      ++l.frames_sent;
    }
    if (l.options.drop_after_frames >= 0 && l.frames_sent >= l.options.drop_after_frames) {
      l.dropped = true;
      for (Direction& d : l.dir) d.sender_gone = d.receiver_gone = true;
    }
    l.changed.SignalAll();
    if (crossed_limit) return DroppedError(l);
    return absl::OkStatus();
  }

  absl::StatusOr<Frame> Receive(absl::Time deadline) override {
    if (!error_.ok()) return error_;
    Link& l = *link_;
    absl::MutexLock lock(&l.mu);
    Direction& in = l.dir[1 - side_];
    for (;;) {
      if (l.closed[side_]) return absl::UnavailableError("connection closed");
      const absl::Time now = absl::Now();
      absl::Time wake = deadline;
      if (!in.frames.empty()) {
        if (in.frames.front().ready_at <= now) break;
        wake = std::min(wake, in.frames.front().ready_at);  // delivery_delay
      } else if (in.sender_gone) {
        return l.dropped ? DroppedError(l) : absl::UnavailableError("peer closed the connection");
      }
      if (now >= deadline) return absl::DeadlineExceededError("deadline exceeded");
      l.changed.WaitWithDeadline(&l.mu, wake);
    }
    current_ = std::move(in.frames.front());
    in.frames.pop_front();
    in.bytes -= kFrameHeaderSize + current_.payload.size();
    l.changed.SignalAll();
    absl::StatusOr<FrameHeader> h = FrameHeader::Parse(
        absl::string_view(current_.header, kFrameHeaderSize), limits_.max_frame_payload);
    if (!h.ok()) {
      error_ = h.status();  // lost "frame sync": unusable from now on, like a stream
      return error_;
    }
    return Frame{*h, current_.payload};
  }

  void Close() override {
    Link& l = *link_;
    absl::MutexLock lock(&l.mu);
    if (l.closed[side_]) return;
    l.closed[side_] = true;
    l.dir[side_].sender_gone = true;
    Direction& in = l.dir[1 - side_];
    in.receiver_gone = true;
    in.frames.clear();
    in.bytes = 0;
    l.changed.SignalAll();
  }

  std::string PeerDescription() const override { return peer_; }

 private:
  static absl::Status DroppedError(const Link& l) {
    return absl::UnavailableError(
        absl::StrCat("connection dropped by fault injection after ",
                     l.options.drop_after_frames, " frames"));
  }

  const std::shared_ptr<Link> link_;
  const int side_;
  const ConnectionLimits limits_;
  const std::string peer_;
  // Receive side (one thread at a time): the frame whose payload the caller holds, and
  // the sticky protocol error.
  Queued current_;
  absl::Status error_;
};

class LoopbackListener final : public Listener {
 public:
  LoopbackListener(std::shared_ptr<Names> names, std::shared_ptr<ListenerState> state,
                   std::string name)
      : names_(std::move(names)), state_(std::move(state)), name_(std::move(name)) {}
  ~LoopbackListener() override { Close(); }

  absl::StatusOr<std::unique_ptr<Connection>> Accept() override {
    absl::MutexLock lock(&names_->mu);
    while (!state_->closed && state_->backlog.empty()) state_->changed.Wait(&names_->mu);
    if (state_->closed) return absl::UnavailableError(address() + ": listener closed");
    std::unique_ptr<Connection> c = std::move(state_->backlog.front());
    state_->backlog.pop_front();
    return c;
  }

  void Close() override {
    std::deque<std::unique_ptr<Connection>> unaccepted;
    {
      absl::MutexLock lock(&names_->mu);
      if (state_->closed) return;
      state_->closed = true;
      auto it = names_->listening.find(name_);
      if (it != names_->listening.end() && it->second == state_) names_->listening.erase(it);
      unaccepted.swap(state_->backlog);
      state_->changed.SignalAll();
    }
    // Destroying them closes them, outside the names lock: their peers see UNAVAILABLE.
  }

  std::string address() const override { return absl::StrCat("inproc:", name_); }

 private:
  const std::shared_ptr<Names> names_;
  const std::shared_ptr<ListenerState> state_;
  const std::string name_;
};

}  // namespace
}  // namespace loopback_internal

using loopback_internal::Link;
using loopback_internal::ListenerState;
using loopback_internal::LoopbackConnection;
using loopback_internal::LoopbackListener;

LoopbackTransport::LoopbackTransport(const Options& options)
    : options_(options), names_(std::make_shared<loopback_internal::Names>()) {}

LoopbackTransport::~LoopbackTransport() = default;

absl::StatusOr<std::unique_ptr<Listener>> LoopbackTransport::Listen(
    const Address& address, const ConnectionLimits& limits) {
  if (absl::Status s = address.CheckOptions({}); !s.ok()) return s;
  auto state = std::make_shared<ListenerState>();
  state->limits = limits;
  {
    absl::MutexLock lock(&names_->mu);
    auto [it, inserted] = names_->listening.try_emplace(address.target, state);
    if (!inserted) {
      return absl::AlreadyExistsError(
          absl::StrCat("inproc:", address.target, " is in use by a live listener"));
    }
  }
  return std::unique_ptr<Listener>(
      std::make_unique<LoopbackListener>(names_, std::move(state), address.target));
}

absl::StatusOr<std::unique_ptr<Connection>> LoopbackTransport::Connect(
    const Address& address, const ConnectionLimits& limits, absl::Time /*deadline*/) {
  if (absl::Status s = address.CheckOptions({}); !s.ok()) return s;
  absl::MutexLock lock(&names_->mu);
  auto it = names_->listening.find(address.target);
  if (it == names_->listening.end()) {
    return absl::UnavailableError(
        absl::StrCat("connect(inproc:", address.target, "): nobody is listening"));
  }
  ListenerState& listener = *it->second;
  const uint64_t id = names_->next_connection_id++;
  auto link = std::make_shared<Link>(options_);
  const std::string name = absl::StrCat("inproc:", address.target);
  listener.backlog.push_back(std::make_unique<LoopbackConnection>(
      link, 1, listener.limits, absl::StrCat(name, " client=", id)));
  listener.changed.SignalAll();
  return std::unique_ptr<Connection>(
      std::make_unique<LoopbackConnection>(link, 0, limits, absl::StrCat(name, " server")));
}

}  // namespace ferry
