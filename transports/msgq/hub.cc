#include "transports/msgq/hub.h"

#include <cstring>
#include <utility>

#include "absl/base/internal/endian.h"
#include "transports/msgq/piece.h"

namespace ferry::msgq {

Hub::Hub(std::shared_ptr<MsgQueue> queue, long channel, long wake_channel, size_t inbox_limit)
    : queue_(std::move(queue)),
      channel_(channel),
      wake_channel_(wake_channel),
      inbox_limit_(inbox_limit) {}

std::shared_ptr<Hub::Slot> Hub::Register(uint32_t conn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn == kAnyConn) return nullptr;
  auto it = slots_.find(conn);
  if (it != slots_.end()) {
    if (it->second->claimed) return nullptr;
    it->second->claimed = true;
    return it->second;
  }
  auto slot = std::make_shared<Slot>(conn);
  slot->claimed = true;
  slots_.emplace(conn, slot);
  return slot;
}

void Hub::Unregister(uint32_t conn) {
  std::lock_guard<std::mutex> lock(mu_);
  slots_.erase(conn);
}

void Hub::WakeSuccessor(const Slot* leaving) {
  if (connection_waiters_ == 0) return;
  for (auto& [conn, slot] : slots_) {
    if (slot.get() != leaving && slot->waiting && conn != kAcceptConn) {
      slot->cv.notify_one();
      return;
    }
  }
}

void Hub::Reserve(absl::string_view open) {
  if (open.size() < 8) return;
  const uint32_t conn = absl::big_endian::Load32(open.data() + 4);
  if (conn == kAcceptConn || conn == kAnyConn || slots_.contains(conn)) return;
  slots_.emplace(conn, std::make_shared<Slot>(conn));
}

void Hub::Route(absl::string_view m) {
  const auto kind = static_cast<PieceKind>(static_cast<unsigned char>(m[1]));
  const uint32_t conn = kind == PieceKind::kOpen ? kAcceptConn : absl::big_endian::Load32(m.data() + 4);
  auto it = slots_.find(conn);
  if (it == slots_.end()) return;  // a connection gone (or never here): nobody to tell
  Slot& target = *it->second;
  if (kind == PieceKind::kWake) {
    target.cv.notify_one();
    return;
  }
  if (kind == PieceKind::kClose) target.peer_closed.store(true, std::memory_order_release);
  if (target.inbox_bytes + m.size() > inbox_limit_) {
    target.overflow.store(true, std::memory_order_release);
    target.inbox.clear();
    target.inbox_bytes = 0;
    target.cv.notify_one();
    return;
  }
  target.inbox.emplace_back(m);
  target.inbox_bytes += m.size();
  target.cv.notify_one();
}

absl::StatusOr<size_t> Hub::Next(Slot& slot, char* buf, absl::Time until) {
  std::unique_lock<std::mutex> lock(mu_);
  const bool accept = slot.conn == kAcceptConn;
  for (;;) {
    if (!slot.inbox.empty()) {
      std::string& m = slot.inbox.front();
      const size_t n = m.size();
      std::memcpy(buf, m.data(), n);
      slot.inbox_bytes -= n;
      slot.inbox.pop_front();
      return n;
    }
    if (slot.closed) return absl::UnavailableError("connection closed");
    if (slot.overflow.load(std::memory_order_acquire)) {
      return absl::ResourceExhaustedError("the client ran too far ahead of the server");
    }
    if (leader_ == nullptr && (!accept || connection_waiters_ == 0)) {
      leader_ = &slot;
      for (;;) {
        lock.unlock();
        absl::StatusOr<size_t> r = queue_->Receive(channel_, buf, until);
        lock.lock();
        if (!r.ok()) {
          leader_ = nullptr;
          WakeSuccessor(&slot);
          return r.status();
        }
        const absl::string_view m(buf, *r);
        if (m.size() < 8 || static_cast<unsigned char>(m[0]) != kPieceMagic) continue;  // not ours
        const auto kind = static_cast<PieceKind>(static_cast<unsigned char>(m[1]));
        const uint32_t conn =
            kind == PieceKind::kOpen ? kAcceptConn : absl::big_endian::Load32(m.data() + 4);
        if (kind == PieceKind::kWake && conn == kAnyConn) {
          // A timer's wake-up (SysV): it ends the wait of whoever's time has come.
          if (absl::Now() < until) continue;
          leader_ = nullptr;
          WakeSuccessor(&slot);
          return absl::DeadlineExceededError("no message before the deadline");
        }
        if (kind == PieceKind::kOpen) Reserve(m);
        if (conn == slot.conn) {
          leader_ = nullptr;
          WakeSuccessor(&slot);
          return *r;
        }
        Route(m);
        if (slot.closed || absl::Now() >= until) {
          leader_ = nullptr;
          WakeSuccessor(&slot);
          if (slot.closed) return absl::UnavailableError("connection closed");
          return absl::DeadlineExceededError("no message before the deadline");
        }
      }
    }
    if (absl::Now() >= until) return absl::DeadlineExceededError("no message before the deadline");
    slot.waiting = true;
    if (!accept) ++connection_waiters_;
    if (until == absl::InfiniteFuture()) {
      slot.cv.wait(lock);
    } else {
      slot.cv.wait_until(lock, absl::ToChronoTime(until));
    }
    slot.waiting = false;
    if (!accept) --connection_waiters_;
  }
}

void Hub::CloseSlot(Slot& slot) {
  bool leading;
  {
    std::lock_guard<std::mutex> lock(mu_);
    slot.closed = true;
    slot.cv.notify_one();
    leading = leader_ == &slot;
  }
  if (leading) {
    // The leader sleeps in the kernel: a wake-up piece addressed to it ends that wait.
    char wake[kPieceHeaderSize];
    PieceHeader h;
    h.kind = PieceKind::kWake;
    h.conn = slot.conn;
    const size_t n = BuildPiece(h, {}, wake);
    queue_->Send(wake_channel_, /*urgent=*/true, absl::string_view(wake, n), absl::InfinitePast())
        .IgnoreError();  // full: then it has messages to read and looks at `closed` soon
  }
}

}  // namespace ferry::msgq
