#include "transports/msgq/msgq_connection.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ferry::msgq {

MsgqConnection::MsgqConnection(MsgqEndpoint endpoint, const ConnectionLimits& limits)
    : e_(std::move(endpoint)),
      max_payload_(limits.max_frame_payload),
      out_max_(e_.out->max_message()),
      gate_([this] {
        if (e_.slot != nullptr) e_.hub->Unregister(e_.conn);
        if (e_.release) {
          e_.release(!e_.peer.Alive(), peer_closed_.load(std::memory_order_acquire));
        }
        e_.out.reset();
        e_.in.reset();
        e_.slot.reset();
        e_.hub.reset();
      }),
      asm_(limits.max_frame_payload) {
  accepted_.store(e_.accepted, std::memory_order_relaxed);
  tx_.reset(new char[out_max_]);
  rx_size_ = e_.in != nullptr ? e_.in->max_message() : e_.hub->queue()->max_message();
  rx_.reset(new char[rx_size_]);
}

MsgqConnection::~MsgqConnection() { Close(); }

absl::Status MsgqConnection::Unavailable(absl::string_view why) const {
  return absl::UnavailableError(absl::StrCat(e_.description, ": ", why));
}

bool MsgqConnection::PeerGone() const {
  if (!e_.peer.Alive()) return true;
  if (!accepted_.load(std::memory_order_acquire) && e_.listener_gone && e_.listener_gone()) {
    return true;
  }
  return false;
}

// ---- Send -------------------------------------------------------------------------------

absl::Status MsgqConnection::Send(absl::Span<const OutFrame> frames, absl::Time deadline) {
  CloseGate::Call call(gate_);
  if (!call.entered()) return Unavailable("connection closed");
  uint64_t total = 0;
  bool urgent = !frames.empty();
  for (const OutFrame& f : frames) {
    if (f.header.payload_length != f.payload.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "frame header says ", f.header.payload_length, " payload bytes, payload has ",
          f.payload.size()));
    }
    total += kFrameHeaderSize + f.payload.size();
    urgent = urgent && IsUrgentFrame(f);
  }
  if (frames.empty()) return absl::OkStatus();
  if (peer_closed_.load(std::memory_order_acquire) ||
      (e_.slot != nullptr && e_.slot->peer_closed.load(std::memory_order_acquire))) {
    peer_closed_.store(true, std::memory_order_release);
    return Unavailable("peer closed the connection");
  }
  std::unique_lock<std::timed_mutex> lock(send_mu_, std::defer_lock);
  if (!lock.try_lock()) {
    const absl::Time now = absl::Now();
    if (deadline <= now || !lock.try_lock_for(absl::ToChronoNanoseconds(
                               std::min(deadline - now, absl::Hours(24 * 365))))) {
      return absl::DeadlineExceededError(
          absl::StrCat(e_.description, ": another Send() held the queue until the deadline"));
    }
  }
  if (closed_.load(std::memory_order_acquire)) return Unavailable("connection closed");

  if (urgent && kPieceHeaderSize + total <= out_max_) {
    // One control piece, outside the data sequence: it may overtake queued data.
    PieceHeader h;
    h.kind = PieceKind::kControl;
    h.flags = kUnitEnd;
    h.conn = e_.conn;
    h.length = static_cast<uint32_t>(total);
    h.Serialize(tx_.get());
    char* p = tx_.get() + kPieceHeaderSize;
    for (const OutFrame& f : frames) {
      f.header.Serialize(p);
      p += kFrameHeaderSize;
      if (!f.payload.empty()) std::memcpy(p, f.payload.data(), f.payload.size());
      p += f.payload.size();
    }
    return SendPiece(absl::string_view(tx_.get(), kPieceHeaderSize + total), true, deadline);
  }

  Fragmenter frag(frames, out_max_);
  uint64_t sent = 0;
  while (!frag.done()) {
    const uint32_t seq_before = send_seq_;
    const size_t n = frag.NextPiece(e_.conn, &send_seq_, tx_.get());
    absl::Status s = SendPiece(absl::string_view(tx_.get(), n), false, deadline);
    if (!s.ok()) {
      if (sent == 0) {
        send_seq_ = seq_before;  // nothing went out: the connection stays usable
        return s;
      }
      // The peer holds part of a unit: the stream is torn, the connection must go.
      lock.unlock();
      Close();
      if (s.code() == absl::StatusCode::kDeadlineExceeded) {
        return absl::DeadlineExceededError(
            absl::StrCat(e_.description, ": deadline after a partial send (", sent, " of ",
                         frag.piece_count(), " pieces); connection closed"));
      }
      return s;
    }
    ++sent;
  }
  return absl::OkStatus();
}

absl::Status MsgqConnection::SendPiece(absl::string_view message, bool urgent,
                                       absl::Time deadline) {
  const long channel = urgent ? e_.out_urgent_channel : e_.out_channel;
  for (;;) {
    const absl::Time now = absl::Now();
    const absl::Time until = std::min(deadline, now + kSendSlice);
    absl::Status s = e_.out->Send(channel, urgent, message, until);
    if (s.ok()) {
      pieces_sent_.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
    if (s.code() != absl::StatusCode::kDeadlineExceeded) {
      if (s.code() == absl::StatusCode::kUnavailable) return Unavailable(s.message());
      return s;
    }
    // Full for a whole slice: is anyone still there?
    if (closed_.load(std::memory_order_acquire)) return Unavailable("connection closed");
    PollInbound();
    if (peer_closed_.load(std::memory_order_acquire) ||
        (e_.slot != nullptr && e_.slot->peer_closed.load(std::memory_order_acquire))) {
      peer_closed_.store(true, std::memory_order_release);
      return Unavailable("peer closed the connection");
    }
    if (PeerGone()) return Unavailable("peer process is gone");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(e_.description, ": queue full until the deadline"));
    }
  }
}

// ---- Receive ----------------------------------------------------------------------------

absl::StatusOr<size_t> MsgqConnection::Fetch(absl::Time until) {
  if (e_.slot != nullptr) return e_.hub->Next(*e_.slot, rx_.get(), until);
  return e_.in->Receive(e_.in_channel, rx_.get(), until);
}

absl::Status MsgqConnection::Handle(absl::string_view message) {
  absl::StatusOr<PieceView> p = ParsePiece(message);
  if (!p.ok()) return p.status();
  if (p->header.conn != e_.conn && p->header.kind != PieceKind::kWake) {
    return absl::InvalidArgumentError(absl::StrCat("piece for connection ", p->header.conn,
                                                   " arrived on connection ", e_.conn));
  }
  switch (p->header.kind) {
    case PieceKind::kData:
      return asm_.Feed(*p);
    case PieceKind::kControl: {
      if ((p->header.flags & kUnitEnd) == 0) {
        return absl::InvalidArgumentError("control piece that does not end its unit");
      }
      control_buf_.assign(p->body.data(), p->body.size());
      absl::StatusOr<std::vector<Frame>> frames = ParseControlBody(control_buf_, max_payload_);
      if (!frames.ok()) return frames.status();
      control_frames_.assign(frames->begin(), frames->end());
      return absl::OkStatus();
    }
    case PieceKind::kAccept:
      accepted_.store(true, std::memory_order_release);
      return absl::OkStatus();
    case PieceKind::kClose:
      peer_closed_.store(true, std::memory_order_release);
      return absl::OkStatus();
    case PieceKind::kWake:
      return absl::OkStatus();
    case PieceKind::kOpen:
      break;
  }
  return absl::InvalidArgumentError("unexpected OPEN piece on an established connection");
}

absl::StatusOr<Frame> MsgqConnection::Receive(absl::Time deadline) {
  CloseGate::Call call(gate_);
  if (!call.entered()) return Unavailable("connection closed");
  std::lock_guard<std::mutex> lock(recv_mu_);
  if (!sticky_.ok()) return sticky_;
  bool waited = false;
  for (;;) {
    if (!control_frames_.empty()) {
      Frame f = control_frames_.front();
      control_frames_.pop_front();
      return f;
    }
    Assembler::Result r = asm_.Next();
    if (r.kind == Assembler::kFrame) return r.frame;
    if (r.kind == Assembler::kError) {
      sticky_ = r.error;
      return sticky_;
    }
    if (!side_inbox_.empty()) {
      std::string m = std::move(side_inbox_.front());
      side_inbox_.pop_front();
      side_inbox_bytes_ -= m.size();
      absl::Status s = Handle(m);
      if (!s.ok()) {
        sticky_ = s;
        return s;
      }
      continue;
    }
    if (peer_closed_.load(std::memory_order_acquire)) {
      if (asm_.mid_unit()) {
        sticky_ = Unavailable("peer closed the connection in the middle of a frame");
        return sticky_;
      }
      return Unavailable("peer closed the connection");
    }
    if (closed_.load(std::memory_order_acquire)) return Unavailable("connection closed");
    const absl::Time now = absl::Now();
    if (waited && now >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(e_.description, ": no frame before the deadline"));
    }
    waited = true;
    absl::StatusOr<size_t> n = Fetch(std::min(deadline, now + kWaitSlice));
    if (n.ok() && *n >= 2 && static_cast<PieceKind>(rx_[1]) == PieceKind::kWake) {
      // A wake-up (our Close(), or SysV's timer standing in for a receive timeout): look
      // around exactly as when a wait slice ends.
      n = absl::DeadlineExceededError("woken");
    }
    if (!n.ok()) {
      if (n.status().code() == absl::StatusCode::kDeadlineExceeded) {
        if (closed_.load(std::memory_order_acquire)) return Unavailable("connection closed");
        if (PeerGone()) {
          // Everything it sent is read (the source is empty): nothing more will come.
          if (!peer_closed_.load()) return Unavailable("peer process is gone");
        }
        continue;  // the loop ends at the deadline
      }
      if (n.status().code() == absl::StatusCode::kResourceExhausted) {
        sticky_ = n.status();
        return sticky_;
      }
      if (closed_.load(std::memory_order_acquire)) return Unavailable("connection closed");
      return Unavailable(n.status().message());
    }
    absl::Status s = Handle(absl::string_view(rx_.get(), *n));
    if (!s.ok()) {
      sticky_ = s;
      return s;
    }
  }
}

void MsgqConnection::PollInbound() {
  std::unique_lock<std::mutex> lock(recv_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // a Receive() is reading: it sees a kClose itself
  for (int i = 0; i < 1024 && side_inbox_bytes_ < e_.drain_limit; ++i) {
    absl::StatusOr<size_t> n = Fetch(absl::InfinitePast());
    if (!n.ok()) return;
    const absl::string_view m(rx_.get(), *n);
    if (m.size() >= 2 && static_cast<PieceKind>(m[1]) == PieceKind::kClose) {
      peer_closed_.store(true, std::memory_order_release);
    }
    side_inbox_.emplace_back(m);
    side_inbox_bytes_ += m.size();
  }
}

// ---- Close ------------------------------------------------------------------------------

void MsgqConnection::Close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) {
    gate_.Close([] {});
    return;
  }
  gate_.Close([this] {
    // Wake our own Receive().
    if (e_.slot != nullptr) {
      e_.hub->CloseSlot(*e_.slot);
    } else {
      char wake[kPieceHeaderSize];
      PieceHeader h;
      h.kind = PieceKind::kWake;
      h.conn = e_.conn;
      const size_t n = BuildPiece(h, {}, wake);
      e_.in->Send(e_.in_channel, /*urgent=*/true, absl::string_view(wake, n),
                  absl::InfinitePast())
          .IgnoreError();  // full: the reader has messages and looks at `closed_` soon
    }
    // Tell the peer, in order after whatever Send() is under way (it sees `closed_` within
    // a slice and lets go of the lock).
    if (peer_closed_.load(std::memory_order_acquire) || !e_.peer.Alive()) return;
    std::unique_lock<std::timed_mutex> lock(send_mu_, std::defer_lock);
    if (!lock.try_lock_for(std::chrono::milliseconds(500))) return;
    char close[kPieceHeaderSize];
    PieceHeader h;
    h.kind = PieceKind::kClose;
    h.conn = e_.conn;
    const size_t n = BuildPiece(h, {}, close);
    e_.out->Send(e_.out_channel, false, absl::string_view(close, n),
                 absl::Now() + absl::Milliseconds(100))
        .IgnoreError();  // a peer that reads nothing for 100 ms learns it from its own Close
  });
}

}  // namespace ferry::msgq
