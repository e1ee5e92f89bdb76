#include "transports/udp/udp_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/frame.h"
#include "runtime/status.h"

namespace ferry::udp {
namespace {

constexpr size_t kRxBuffer = 65536;
// How long a server connection's Close() waits for the client to acknowledge the replies
// still in its cache (LingerForRepliesLocked).
constexpr absl::Duration kCloseLinger = absl::Seconds(1);

bool HasFrame(absl::Span<const OutFrame> frames, FrameType type, uint32_t* call_id) {
  for (const OutFrame& f : frames) {
    if (f.header.type == type) {
      *call_id = f.header.call_id;
      return true;
    }
  }
  return false;
}

// True when `frames` end a call on the server side: a CALL_END, or a reply that ends its
// call by itself (MESSAGE + kFlagEndOfCall, the unary-frames form; docs/wire-format.md).
bool EndsCall(absl::Span<const OutFrame> frames, uint32_t* call_id) {
  for (const OutFrame& f : frames) {
    if (f.header.type == FrameType::kCallEnd ||
        (f.header.type == FrameType::kMessage && (f.header.flags & kFlagEndOfCall) != 0)) {
      *call_id = f.header.call_id;
      return true;
    }
  }
  return false;
}

// SO_RCVTIMEO steps: a blocking recv waits at most the largest step not beyond the next
// event, so the value (one setsockopt) changes only when the kind of wait changes (a
// client awaiting a reply: a few ms; an idle server: a second), not per call.
constexpr absl::Duration kTimeoSteps[] = {absl::Seconds(1), absl::Milliseconds(100),
                                          absl::Milliseconds(20), absl::Milliseconds(5),
                                          absl::Milliseconds(1)};

}  // namespace

int64_t CallStartBudgetMicros(absl::string_view payload) {
  if (payload.size() < 2) return kNoDeadline;
  const size_t path = absl::big_endian::Load16(payload.data());
  if (payload.size() < 2 + path + 8) return kNoDeadline;
  const int64_t b = static_cast<int64_t>(absl::big_endian::Load64(payload.data() + 2 + path));
  return b < 0 ? kNoDeadline : b;
}

UdpConnection::UdpConnection(Params p)
    : role_(p.role),
      fd_(std::move(p.fd)),
      conn_id_(p.conn_id),
      peer_(std::move(p.peer_description)),
      cfg_(std::move(p.config)),
      limits_(p.limits),
      accept_payload_(std::move(p.accept_payload)),
      on_close_(std::move(p.on_close)),
      gate_([this] { fd_.reset(); }),
      rng_(cfg_.faults.seed ^ p.conn_id ^ (p.role == Role::kServer ? 0x5e4e : 0xc11e)),
      reasm_([&] {
        Reassembler::Limits l;
        l.fragment = cfg_.fragment;
        l.max_unit = cfg_.max_unit;
        l.max_bytes = std::max<size_t>(cfg_.reassembly_bytes, 2 * size_t{cfg_.max_unit});
        l.max_ahead = 4096;
        l.global = cfg_.reassembly_total.get();
        l.global_max = cfg_.reassembly_total_max;
        return l;
      }()) {
  rx_.resize(kRxBuffer);
  last_heard_ = absl::Now();
  poke_after_ = cfg_.max_rto;
}

UdpConnection::~UdpConnection() { Close(); }

UdpStats UdpConnection::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// ---- Sending datagrams ------------------------------------------------------------------

DatagramHeader UdpConnection::HeaderLocked(DatagramKind kind) const {
  DatagramHeader h;
  h.kind = kind;
  h.conn_id = conn_id_;
  h.ack = reasm_.next();
  return h;
}

void UdpConnection::RawSend(const char* header, absl::string_view a, absl::string_view b) {
  iovec iov[3] = {{const_cast<char*>(header), kDatagramHeaderSize},
                  {const_cast<char*>(a.data()), a.size()},
                  {const_cast<char*>(b.data()), b.size()}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = b.empty() ? (a.empty() ? 1 : 2) : 3;
  for (;;) {
    const ssize_t n = ::sendmsg(fd_.get(), &m, MSG_NOSIGNAL);
    if (n >= 0) return;
    if (errno == EINTR) continue;
    // ECONNREFUSED: an ICMP error from an earlier datagram; the next recv reports it too.
    // Anything else (ENOBUFS, EAGAIN) is a lost datagram, which retransmission covers.
    if (errno == ECONNREFUSED) PeerGoneLocked(ErrnoStatus("sendmsg", errno));
    return;
  }
}

void UdpConnection::SendDatagramLocked(const DatagramHeader& h, absl::string_view a,
                                       absl::string_view b) {
  char header[kDatagramHeaderSize];
  h.Serialize(header);
  if (!cfg_.faults.any()) {
    RawSend(header, a, b);
    return;
  }
  std::uniform_real_distribution<double> u(0, 1);
  if (u(rng_) < cfg_.faults.loss) return;
  const int copies = u(rng_) < cfg_.faults.dup ? 2 : 1;
  if (held_.empty() && u(rng_) < cfg_.faults.reorder) {
    held_.assign(header, kDatagramHeaderSize);
    held_.append(a.data(), a.size());
    held_.append(b.data(), b.size());
    held_until_ = absl::Now() + absl::Milliseconds(2);
    return;
  }
  for (int i = 0; i < copies; ++i) RawSend(header, a, b);
  if (!held_.empty()) {
    std::string held = std::move(held_);
    held_.clear();
    held_until_ = absl::InfiniteFuture();
    RawSend(held.data(), absl::string_view(held).substr(kDatagramHeaderSize), {});
  }
}

void UdpConnection::SendFragmentsLocked(OutUnit& u, bool repair, uint32_t repair_below) {
  const uint32_t f = cfg_.fragment;
  const uint32_t limit = std::min<uint32_t>(u.nfrags, u.have + cfg_.window);
  auto due = [&](uint32_t i) {
    return !u.acked[i] && (i >= u.sent_upto || (repair && i < repair_below));
  };
  uint32_t last = UINT32_MAX;
  for (uint32_t i = u.have; i < limit; ++i) {
    if (due(i)) last = i;
  }
  if (last == UINT32_MAX) return;
  const bool more = limit < u.nfrags;
  DatagramHeader h = HeaderLocked(DatagramKind::kData);
  h.seq = u.seq;
  h.call_id = u.call_id;
  h.unit_len = static_cast<uint32_t>(u.bytes.size());
  for (uint32_t i = u.have; i <= last; ++i) {
    if (!due(i)) continue;
    if (i < u.sent_upto) ++stats_.retransmits;
    h.offset = i * f;
    h.flags = u.kind | ((i == last && (u.want_ack || more)) ? kFlagAckNow : 0);
    const size_t len = std::min<size_t>(f, u.bytes.size() - h.offset);
    SendDatagramLocked(h, absl::string_view(u.bytes).substr(h.offset, len));
  }
  u.sent_upto = std::max(u.sent_upto, last + 1);
}

void UdpConnection::SendAckLocked(uint32_t seq) {
  DatagramHeader h = HeaderLocked(DatagramKind::kAck);
  h.seq = seq;
  SendDatagramLocked(h, reasm_.Status(seq).Encode());
}

void UdpConnection::SendProbeLocked(const OutUnit& u) {
  DatagramHeader h = HeaderLocked(DatagramKind::kProbe);
  h.seq = u.seq;
  h.call_id = u.call_id;
  // Piggyback what we hold of a partly received unit, so the server repairs it at once.
  uint32_t partial;
  std::string payload;
  if (reasm_.FirstIncomplete(&partial)) {
    payload.resize(4);
    absl::big_endian::Store32(&payload[0], partial);
    payload += reasm_.Status(partial).Encode();
  }
  ++stats_.retransmits;
  SendDatagramLocked(h, payload);
}

// ---- Send ---------------------------------------------------------------------------------

bool UdpConnection::UsableLocked(absl::Status* why) const {
  if (closed_) {
    *why = absl::UnavailableError("connection closed");
    return false;
  }
  if (!peer_gone_.ok()) {
    *why = peer_gone_;
    return false;
  }
  return true;
}

absl::Status UdpConnection::Send(absl::Span<const OutFrame> frames, absl::Time deadline) {
  CloseGate::Call call(gate_);
  if (!call.entered()) return absl::UnavailableError("connection closed");
  if (frames.empty()) return absl::OkStatus();
  // Groups of whole frames, each at most what the peer accepts as one unit.
  std::vector<std::pair<size_t, size_t>> groups;  // [begin, end) frame indexes
  size_t group_bytes = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    const OutFrame& f = frames[i];
    if (f.header.payload_length != f.payload.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "frame header says ", f.header.payload_length, " payload bytes, payload has ",
          f.payload.size()));
    }
    const size_t size = kFrameHeaderSize + f.payload.size();
    if (size > cfg_.peer_max_unit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "frame of ", f.payload.size(), " payload bytes exceeds the peer's limit"));
    }
    if (groups.empty() || group_bytes + size > cfg_.peer_max_unit) {
      groups.emplace_back(i, i);
      group_bytes = 0;
    }
    groups.back().second = i + 1;
    group_bytes += size;
  }

  uint8_t kind = 0;
  uint32_t call_id = 0;
  int64_t budget = kNoDeadline;
  if (role_ == Role::kClient && HasFrame(frames, FrameType::kCallStart, &call_id)) {
    kind = kFlagRequest;
    for (const OutFrame& f : frames) {
      if (f.header.type == FrameType::kCallStart) budget = CallStartBudgetMicros(f.payload);
    }
  } else if (role_ == Role::kServer && EndsCall(frames, &call_id)) {
    kind = kFlagReply;
  }

  Lock lock(mu_);
  absl::Status why;
  if (kind == 0 && !reading_) DrainLocked(lock);  // notice a CLOSE/RESET before sending
  if (!UsableLocked(&why)) return why;
  if (next_seq_ > UINT32_MAX - 2 * groups.size()) {
    PeerGoneLocked(absl::UnavailableError("sequence numbers exhausted; reconnect"));
    return peer_gone_;
  }
  const absl::Time now = absl::Now();
  const bool confirm = kind == kFlagRequest && now - last_heard_ > cfg_.confirm_after_silence;
  // A client's CANCEL waits for its acknowledgement: after it the client may read nothing
  // for a long time (the cancelled call was its last), so nobody would run the timer that
  // retransmits a lost one, and the server's handler would run on uncancelled. Best
  // effort within the deadline: past it the unit stays queued for later pumps.
  uint32_t cancelled_id = 0;
  const bool confirm_control = kind == 0 && role_ == Role::kClient &&
                               HasFrame(frames, FrameType::kCancel, &cancelled_id);
  uint32_t last_seq = 0;
  bool wait = false;
  for (const auto& [begin, end] : groups) {
    OutUnit u;
    u.seq = last_seq = next_seq_++;
    u.kind = groups.size() == 1 ? kind : 0;
    u.call_id = u.kind != 0 ? call_id : 0;
    size_t total = 0;
    for (size_t i = begin; i < end; ++i) total += kFrameHeaderSize + frames[i].payload.size();
    if (!spare_.empty()) {
      u.bytes.swap(spare_.back());
      spare_.pop_back();
    }
    u.bytes.resize(total);
    char* p = &u.bytes[0];
    for (size_t i = begin; i < end; ++i) {
      frames[i].header.Serialize(p);
      p += kFrameHeaderSize;
      if (!frames[i].payload.empty()) {
        std::memcpy(p, frames[i].payload.data(), frames[i].payload.size());
        p += frames[i].payload.size();
      }
    }
    u.nfrags = FragmentCount(static_cast<uint32_t>(total), cfg_.fragment);
    u.acked.assign(u.nfrags, false);
    u.want_ack = u.kind == 0 || confirm || (u.kind == kFlagRequest && u.nfrags > 1);
    u.backoff = cfg_.rto;
    if (u.kind == kFlagRequest && budget != kNoDeadline) {
      u.give_up = now + absl::Microseconds(budget);
    }
    wait = wait || u.nfrags > 1 || (u.kind == kFlagRequest && confirm) || confirm_control;
    if (u.kind == kFlagReply) {
      last_reply_at_ = now;
      auto it = replies_.emplace(u.seq, std::move(u)).first;
      reply_by_call_[call_id] = it->first;
      reply_bytes_ += it->second.bytes.size();
      SendFragmentsLocked(it->second, false);
      // Bounded cache: the oldest replies go first. A retransmitted request for an
      // evicted reply is only acknowledged (the handler never runs twice); its caller
      // ends with its deadline.
      while (replies_.size() > 1 &&
             (replies_.size() > cfg_.reply_cache_entries ||
              reply_bytes_ > cfg_.reply_cache_bytes) &&
             replies_.begin()->first != it->first) {
        auto old = replies_.begin();
        reply_bytes_ -= old->second.bytes.size();
        auto rc = reply_by_call_.find(old->second.call_id);
        if (rc != reply_by_call_.end() && rc->second == old->first) reply_by_call_.erase(rc);
        replies_.erase(old);
      }
    } else {
      auto it = out_.emplace(u.seq, std::move(u)).first;
      SendFragmentsLocked(it->second, false);
      ArmLocked(it->second, now);
    }
  }
  if (!wait) return absl::OkStatus();

  // Wait until every fragment has gone out once (the window opens as acknowledgements
  // come), a confirmed request is acknowledged, and the bytes the peer has not
  // acknowledged fit the window again (flow control across units; replies excepted, as
  // the client acknowledges them with its next request).
  const size_t window_bytes = size_t{cfg_.window} * cfg_.fragment;
  uint32_t progress_mark = 0, have_mark = 0;
  absl::Time progress_at = absl::Now();
  absl::Duration stall_backoff = cfg_.rto;
  for (;;) {
    if (!UsableLocked(&why)) return why;
    bool done;
    if (kind == kFlagReply && groups.size() == 1) {
      auto it = replies_.find(last_seq);
      done = it == replies_.end() || it->second.sent_upto == it->second.nfrags;
    } else {
      auto it = out_.find(last_seq);
      done = it == out_.end() ||
             (it->second.delivered ||
              (!confirm && !confirm_control && it->second.sent_upto == it->second.nfrags &&
               UnackedLocked() <= window_bytes));
    }
    if (done) return absl::OkStatus();
    if (kind == kFlagReply && groups.size() == 1) {
      // A long reply whose window stalled (its acknowledgement or the fragment asking for
      // it was lost): ask again rather than wait for the client's probe.
      OutUnit& u = replies_.at(last_seq);
      const absl::Time t = absl::Now();
      if (u.sent_upto != progress_mark || u.have != have_mark) {
        progress_mark = u.sent_upto;
        have_mark = u.have;
        progress_at = t;
        stall_backoff = cfg_.rto;
      } else if (t - progress_at > stall_backoff) {
        u.want_ack = true;
        SendFragmentsLocked(u, /*repair=*/true);
        u.want_ack = false;
        progress_at = t;
        stall_backoff = std::min(stall_backoff * 2, cfg_.max_rto);
      }
    }
    if (absl::Now() >= deadline) {
      if (confirm_control) {
        auto it = out_.find(last_seq);
        // Whole units sent, only the acknowledgement missing: retransmitted on later pumps.
        if (it == out_.end() || it->second.sent_upto == it->second.nfrags) return absl::OkStatus();
      }
      // The peer may hold part of the unit, and later units would wait behind it forever:
      // the connection is unusable.
      PeerGoneLocked(absl::DeadlineExceededError("send not acknowledged before the deadline"));
      lock.unlock();
      Close();
      return absl::DeadlineExceededError("send not acknowledged before the deadline");
    }
    PumpLocked(lock, kind == kFlagReply ? std::min(deadline, progress_at + stall_backoff)
                                        : deadline);
  }
}

size_t UdpConnection::UnackedLocked() const {
  size_t n = 0;
  for (const auto& [seq, u] : out_) {
    if (!u.delivered) n += u.bytes.size();
  }
  return n;
}

// ---- Timers -------------------------------------------------------------------------------

void UdpConnection::ArmLocked(OutUnit& u, absl::Time now) {
  // Exponential backoff with +-20% jitter, capped.
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  u.next_at = now + u.backoff * jitter(rng_);
  u.backoff = std::min(u.backoff * 2, cfg_.max_rto);
}

absl::Time UdpConnection::NextTimerLocked() const {
  absl::Time t = held_until_;
  for (const auto& [seq, u] : out_) t = std::min(t, std::min(u.next_at, u.give_up));
  if (!out_.empty()) t = std::min(t, std::max(last_heard_, listening_since_) + cfg_.peer_timeout);
  if (role_ == Role::kServer) {
    t = std::min(t, last_heard_ + cfg_.idle_timeout);
    t = std::min(t, std::max(last_heard_, poked_at_) + poke_after_);
  }
  return t;
}

void UdpConnection::RunTimersLocked(absl::Time now) {
  if (!held_.empty() && now >= held_until_) {
    std::string held = std::move(held_);
    held_.clear();
    held_until_ = absl::InfiniteFuture();
    RawSend(held.data(), absl::string_view(held).substr(kDatagramHeaderSize), {});
  }
  if (!peer_gone_.ok() || closed_) return;
  const absl::Time heard = std::max(last_heard_, listening_since_);
  if (!out_.empty() && now - heard > cfg_.peer_timeout) {
    PeerGoneLocked(absl::UnavailableError(absl::StrCat(
        "peer ", peer_, " silent for ", absl::FormatDuration(now - heard))));
    return;
  }
  if (role_ == Role::kServer && now - last_heard_ > cfg_.idle_timeout) {
    PeerGoneLocked(absl::UnavailableError(absl::StrCat(
        "client ", peer_, " silent for ", absl::FormatDuration(now - last_heard_))));
    return;
  }
  if (role_ == Role::kServer && now >= std::max(last_heard_, poked_at_) + poke_after_) {
    // A silent client may be dead (SIGKILLed between calls, holding nothing the server
    // would retransmit): poke it with an empty PROBE, which clients ignore. If its socket
    // is gone the kernel answers ICMP port unreachable and our next recv reports
    // ECONNREFUSED (UNAVAILABLE), so the connection, its socket and its reply cache go
    // within about max_rto instead of idle_timeout. Backoff: an idle live client gets a
    // handful of datagrams per idle_timeout.
    SendDatagramLocked(HeaderLocked(DatagramKind::kProbe), {});
    poked_at_ = now;
    poke_after_ = std::min(poke_after_ * 2, cfg_.idle_timeout);
  }
  for (auto it = out_.begin(); it != out_.end();) {
    OutUnit& u = it->second;
    if (u.give_up <= now) {
      // The call's deadline passed: the runtime has given up on it too.
      spare_.push_back(std::move(u.bytes));
      it = out_.erase(it);
      continue;
    }
    if (u.next_at <= now) {
      if (u.delivered) {
        SendProbeLocked(u);  // a request whose reply is still due
      } else {
        u.want_ack = true;
        SendFragmentsLocked(u, /*repair=*/true);
      }
      ArmLocked(u, now);
    }
    ++it;
  }
}

void UdpConnection::PeerGoneLocked(absl::Status why) {
  if (peer_gone_.ok()) peer_gone_ = std::move(why);
  if (waiters_ > 0) cv_.notify_all();
}

// ---- Receiving ----------------------------------------------------------------------------

ssize_t UdpConnection::ReadDatagram(absl::Time until) {
  const int fd = fd_.get();
  int flags = 0;
  const absl::Duration left = until - absl::Now();
  if (left <= absl::ZeroDuration()) {
    flags = MSG_DONTWAIT;
  } else {
    // Keep the timeout in force while it neither oversleeps nor wakes far too often, so
    // a jittered retransmission timer does not flip it on every call.
    absl::Duration want = absl::ZeroDuration();
    if (rcvtimeo_ > absl::ZeroDuration() && rcvtimeo_ <= left &&
        (rcvtimeo_ * 16 >= left || rcvtimeo_ == kTimeoSteps[0])) {
      want = rcvtimeo_;
    } else {
      for (absl::Duration step : kTimeoSteps) {
        if (left >= step) {
          want = step;
          break;
        }
      }
    }
    if (want == absl::ZeroDuration()) {
      // Under a millisecond: wait exactly, then read without blocking.
      timespec ts = absl::ToTimespec(left);
      pollfd p{fd, POLLIN, 0};
      if (::ppoll(&p, 1, &ts, nullptr) <= 0) return 0;
      flags = MSG_DONTWAIT;
    } else if (want != rcvtimeo_) {
      timeval tv = absl::ToTimeval(want);
      if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0) rcvtimeo_ = want;
    }
  }
  for (;;) {
    const ssize_t n = ::recv(fd, &rx_[0], rx_.size(), flags);
    if (n > 0) return n;
    if (n == 0) return closing_.load(std::memory_order_acquire) ? -ESHUTDOWN : 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -errno;
  }
}

void UdpConnection::PumpLocked(Lock& lock, absl::Time until) {
  const absl::Time now = absl::Now();
  // Nobody read for a while (a client between calls): silence from the peer meanwhile
  // proves nothing, so peer timeouts count from now.
  if (now - last_pump_ > cfg_.max_rto) listening_since_ = now;
  last_pump_ = now;
  RunTimersLocked(now);
  const absl::Time wake = std::min(until, NextTimerLocked());
  if (reading_) {
    ++waiters_;
    if (wake == absl::InfiniteFuture()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, absl::ToChronoTime(wake));
    }
    --waiters_;
    return;
  }
  reading_ = true;
  lock.unlock();
  const ssize_t n = ReadDatagram(wake);
  lock.lock();
  reading_ = false;
  if (n > 0) {
    HandleDatagramLocked(absl::string_view(rx_.data(), static_cast<size_t>(n)));
    // Mid-unit (a burst of fragments): take whatever else is already queued without
    // blocking. A datagram that completed a unit goes straight to its reader instead
    // (no extra recv per call).
    for (int i = 0; i < 64 && !closed_ && ready_.empty(); ++i) {
      reading_ = true;
      lock.unlock();
      const ssize_t m = ReadDatagram(absl::InfinitePast());
      lock.lock();
      reading_ = false;
      if (m <= 0) {
        if (m < 0 && m != -ESHUTDOWN) PeerGoneLocked(ErrnoStatus("recv", static_cast<int>(-m)));
        break;
      }
      HandleDatagramLocked(absl::string_view(rx_.data(), static_cast<size_t>(m)));
    }
  } else if (n < 0 && n != -ESHUTDOWN) {
    PeerGoneLocked(ErrnoStatus(absl::StrCat("recv from ", peer_), static_cast<int>(-n)));
  }
  if (waiters_ > 0) cv_.notify_all();
}

void UdpConnection::DrainLocked(Lock& lock) {
  for (int i = 0; i < 64 && !closed_; ++i) {
    reading_ = true;
    lock.unlock();
    const ssize_t n = ReadDatagram(absl::InfinitePast());
    lock.lock();
    reading_ = false;
    if (n <= 0) {
      if (n < 0 && n != -ESHUTDOWN) PeerGoneLocked(ErrnoStatus("recv", static_cast<int>(-n)));
      break;
    }
    HandleDatagramLocked(absl::string_view(rx_.data(), static_cast<size_t>(n)));
  }
  if (waiters_ > 0) cv_.notify_all();
}

void UdpConnection::HandleDatagramLocked(absl::string_view dgram) {
  absl::StatusOr<DatagramHeader> parsed = DatagramHeader::Parse(dgram);
  if (!parsed.ok() || parsed->conn_id != conn_id_) {
    ++stats_.garbage;
    return;
  }
  const DatagramHeader& h = *parsed;
  absl::string_view payload = dgram.substr(kDatagramHeaderSize);
  last_heard_ = absl::Now();
  poke_after_ = cfg_.max_rto;
  HandleCumAckLocked(h.ack);
  switch (h.kind) {
    case DatagramKind::kData:
      HandleDataLocked(h, payload);
      return;
    case DatagramKind::kAck: {
      absl::StatusOr<FragmentStatus> st = FragmentStatus::Decode(payload);
      if (!st.ok()) {
        ++stats_.garbage;
        return;
      }
      HandleStatusLocked(h.seq, *st);
      return;
    }
    case DatagramKind::kProbe: {
      if (role_ != Role::kServer) return;
      if (payload.size() >= 4) {
        absl::StatusOr<FragmentStatus> st = FragmentStatus::Decode(payload.substr(4));
        if (st.ok()) HandleStatusLocked(absl::big_endian::Load32(payload.data()), *st);
      }
      auto rc = reply_by_call_.find(h.call_id);
      // The client delivers our units in order, and h.ack is the first one it lacks. A
      // cached reply there that is not the one probed for belongs to a call that ended
      // without it (deadline or cancel: nobody probes for it), and holds back every later
      // unit: resend it too, or the prober never gets past it.
      auto hole = replies_.find(h.ack);
      if (hole != replies_.end() &&
          (rc == reply_by_call_.end() || rc->second != hole->first)) {
        ResendReplyLocked(hole->second);
      }
      if (h.seq < reasm_.next() && rc != reply_by_call_.end()) {
        ResendReplyLocked(replies_.at(rc->second));
      } else {
        SendAckLocked(h.seq);  // still running, or not received: the ack says which
      }
      return;
    }
    case DatagramKind::kClose:
      PeerGoneLocked(absl::UnavailableError(absl::StrCat("peer ", peer_, " closed the connection")));
      return;
    case DatagramKind::kReset:
      PeerGoneLocked(absl::UnavailableError(absl::StrCat(
          "server ", peer_, " does not know this connection (restarted, or dropped it)")));
      return;
    case DatagramKind::kConnect:
      // Our ACCEPT was lost: say it again.
      if (role_ == Role::kServer) {
        DatagramHeader a = HeaderLocked(DatagramKind::kAccept);
        SendDatagramLocked(a, accept_payload_);
      }
      return;
    case DatagramKind::kAccept:
      return;  // a duplicate
  }
}

void UdpConnection::HandleCumAckLocked(uint32_t ack) {
  if (ack <= peer_next_) return;
  if (ack > next_seq_) ack = next_seq_;  // a hostile or confused peer
  for (auto it = out_.lower_bound(peer_next_); it != out_.end() && it->first < ack;) {
    auto next = std::next(it);
    MarkDeliveredLocked(it);
    it = next;
  }
  for (auto it = replies_.begin(); it != replies_.end() && it->first < ack;) {
    reply_bytes_ -= it->second.bytes.size();
    auto rc = reply_by_call_.find(it->second.call_id);
    if (rc != reply_by_call_.end() && rc->second == it->first) reply_by_call_.erase(rc);
    spare_.push_back(std::move(it->second.bytes));
    it = replies_.erase(it);
  }
  peer_next_ = ack;
  if (waiters_ > 0) cv_.notify_all();
}

void UdpConnection::MarkDeliveredLocked(std::map<uint32_t, OutUnit>::iterator it) {
  OutUnit& u = it->second;
  if (u.delivered) return;
  if (u.kind != kFlagRequest) {
    if (spare_.size() < 8) spare_.push_back(std::move(u.bytes));
    out_.erase(it);
    return;
  }
  // A request the server holds: from now on only small probes until its reply.
  u.delivered = true;
  u.have = u.nfrags;
  u.backoff = std::max(u.backoff, cfg_.rto);
  ArmLocked(u, absl::Now());
}

UdpConnection::OutUnit* UdpConnection::FindUnitLocked(uint32_t seq) {
  auto it = out_.find(seq);
  if (it != out_.end()) return &it->second;
  auto r = replies_.find(seq);
  return r != replies_.end() ? &r->second : nullptr;
}

void UdpConnection::HandleStatusLocked(uint32_t seq, const FragmentStatus& st) {
  if (st.have == FragmentStatus::kAllFragments) {
    auto it = out_.find(seq);
    if (it != out_.end()) MarkDeliveredLocked(it);
    if (waiters_ > 0) cv_.notify_all();
    return;
  }
  OutUnit* u = FindUnitLocked(seq);
  if (u == nullptr || u->delivered) return;
  const uint32_t have = std::min(st.have, u->nfrags);
  for (uint32_t i = 0; i < have; ++i) u->acked[i] = true;
  for (size_t i = 0; i < st.bits.size() && have + 1 + i < u->nfrags; ++i) {
    if (st.bits[i]) u->acked[have + 1 + i] = true;
  }
  while (u->have < u->nfrags && u->acked[u->have]) ++u->have;
  if (u->have == u->nfrags) {
    auto it = out_.find(seq);
    if (it != out_.end()) MarkDeliveredLocked(it);
  } else {
    // Selective repeat: the holes below the highest fragment the receiver holds (what
    // is beyond it may still be on its way; a receiver holding nothing lost it all),
    // then the next window.
    uint32_t highest = have;
    bool any = have > 0;
    for (size_t i = 0; i < st.bits.size(); ++i) {
      if (st.bits[i]) {
        highest = static_cast<uint32_t>(have + 1 + i);
        any = true;
      }
    }
    SendFragmentsLocked(*u, /*repair=*/true, any ? highest : UINT32_MAX);
    if (u->kind != kFlagReply) ArmLocked(*u, absl::Now());
  }
  if (waiters_ > 0) cv_.notify_all();
}

void UdpConnection::ResendReplyLocked(OutUnit& u) {
  ++stats_.replies_from_cache;
  last_reply_at_ = absl::Now();
  SendFragmentsLocked(u, /*repair=*/true);
}

void UdpConnection::SettleRequestLocked(uint32_t call_id) {
  // The reply settles its request: no more retransmissions or probes.
  for (auto it = out_.begin(); it != out_.end(); ++it) {
    if (it->second.kind == kFlagRequest && it->second.call_id == call_id) {
      if (spare_.size() < 8) spare_.push_back(std::move(it->second.bytes));
      out_.erase(it);
      return;
    }
  }
}

void UdpConnection::HandleDataLocked(const DatagramHeader& h, absl::string_view payload) {
  if (h.seq < reasm_.next()) {
    ++stats_.duplicates;
    if (role_ == Role::kServer && (h.flags & kFlagRequest) != 0) {
      // A retransmitted request: answer from the reply cache, or acknowledge a call that
      // is still running. Never dispatch it again.
      auto rc = reply_by_call_.find(h.call_id);
      if (rc != reply_by_call_.end()) {
        ResendReplyLocked(replies_.at(rc->second));
        return;
      }
    }
    SendAckLocked(h.seq);
    return;
  }
  std::string unit;
  if (!spare_.empty()) {
    unit.swap(spare_.back());
    spare_.pop_back();
  }
  if (reasm_.TakeWhole(h.seq, h.unit_len, h.offset, payload, &unit)) {
    // The fast path: a whole unit, in order.
    if (role_ == Role::kClient && (h.flags & kFlagReply) != 0) SettleRequestLocked(h.call_id);
    if ((h.flags & kFlagAckNow) != 0) SendAckLocked(h.seq);
    ready_.push_back(std::move(unit));
    return;
  }
  const Reassembler::Outcome o = reasm_.Add(h.seq, h.unit_len, h.offset, payload);
  if (o == Reassembler::Outcome::kRefused) {
    ++stats_.refused;
    return;
  }
  if (o == Reassembler::Outcome::kDuplicate) ++stats_.duplicates;
  if (o == Reassembler::Outcome::kAdded && role_ == Role::kClient &&
      (h.flags & kFlagReply) != 0 && reasm_.Complete(h.seq)) {
    SettleRequestLocked(h.call_id);
  }
  if (o == Reassembler::Outcome::kAdded && role_ == Role::kClient) {
    // The server is making progress: probe soon again if it stalls, not after a backoff
    // grown while a long handler ran.
    const absl::Time t = absl::Now();
    for (auto& [seq, u] : out_) {
      if (u.delivered && u.next_at > t + cfg_.rto) {
        u.backoff = cfg_.rto;
        u.next_at = t + cfg_.rto;
      }
    }
  }
  if ((h.flags & kFlagAckNow) != 0) SendAckLocked(h.seq);
  while (reasm_.PopReady(&unit)) {
    ready_.push_back(std::move(unit));
    unit.clear();
  }
}

bool UdpConnection::NextFrameLocked(Frame* frame) {
  for (;;) {
    if (cur_pos_ < cur_.size()) {
      absl::string_view rest = absl::string_view(cur_).substr(cur_pos_);
      absl::StatusOr<FrameHeader> h = FrameHeader::Parse(rest, limits_.max_frame_payload);
      if (!h.ok()) {
        broken_ = h.status();
        return false;
      }
      if (h->payload_length > rest.size() - kFrameHeaderSize) {
        broken_ = absl::InvalidArgumentError("frame runs past the end of its datagram unit");
        return false;
      }
      frame->header = *h;
      frame->payload = rest.substr(kFrameHeaderSize, h->payload_length);
      cur_pos_ += kFrameHeaderSize + h->payload_length;
      return true;
    }
    if (ready_.empty()) return false;
    if (spare_.size() < 8) spare_.push_back(std::move(cur_));
    cur_ = std::move(ready_.front());
    ready_.pop_front();
    cur_pos_ = 0;
  }
}

absl::StatusOr<Frame> UdpConnection::Receive(absl::Time deadline) {
  CloseGate::Call call(gate_);
  if (!call.entered()) return absl::UnavailableError("connection closed");
  Lock lock(mu_);
  for (;;) {
    if (closed_) return absl::UnavailableError("connection closed");
    if (!broken_.ok()) return broken_;
    Frame frame;
    if (NextFrameLocked(&frame)) return frame;
    if (!broken_.ok()) return broken_;
    if (!peer_gone_.ok()) return peer_gone_;
    if (deadline == absl::InfinitePast() || absl::Now() >= deadline) {
      // One last look without blocking, so an expired deadline still sees what arrived.
      if (!reading_) {
        DrainLocked(lock);
        RunTimersLocked(absl::Now());
        if (NextFrameLocked(&frame)) return frame;
        if (!broken_.ok()) return broken_;
        if (!peer_gone_.ok()) return peer_gone_;
      }
      return absl::DeadlineExceededError("no frame before the deadline");
    }
    PumpLocked(lock, deadline);
  }
}

void UdpConnection::LingerForReplies() {
  Lock lock(mu_);
  // A client that lost a reply asks again within its probe interval, at most max_rto: a
  // reply sent longer ago than that (plus a round trip's allowance) has been received, or
  // re-sent from the cache. An idle client does not read, so it never acknowledges the
  // resent duplicates: this bound, not the acknowledgement, ends the wait then.
  const absl::Time until =
      std::min(absl::Now() + kCloseLinger, last_reply_at_ + cfg_.max_rto + cfg_.rto);
  absl::Duration backoff = cfg_.rto;
  while (!closed_ && peer_gone_.ok() && !replies_.empty()) {
    const absl::Time now = absl::Now();
    if (now >= until) return;
    // ACK_NOW on each reply's last fragment: a client that has it answers with its
    // cumulative ack (HandleCumAckLocked empties the cache), one that lost it takes it.
    for (auto& [seq, u] : replies_) {
      u.want_ack = true;
      SendFragmentsLocked(u, /*repair=*/true);
      u.want_ack = false;
    }
    const absl::Time step = std::min(until, now + backoff);
    while (!closed_ && peer_gone_.ok() && !replies_.empty() && absl::Now() < step) {
      PumpLocked(lock, step);
    }
    backoff = std::min(backoff * 2, cfg_.max_rto);
  }
}

void UdpConnection::Close() {
  // Server: the reply cache dies with the socket, and the client retransmits a request
  // whose reply it lost to a socket that is gone (ICMP: UNAVAILABLE), so a graceful
  // shutdown under loss would fail calls it had finished. Before closing, wait (bounded)
  // until the client has acknowledged the cached replies or is gone: one round trip.
  if (role_ == Role::kServer && !closing_.load(std::memory_order_acquire)) LingerForReplies();
  bool first = false;
  gate_.Close([&] {
    first = true;
    closing_.store(true, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      // Best effort, twice: the peer learns at once instead of by RESET or timeout.
      if (peer_gone_.ok()) {
        // The reply cache and unacknowledged units die with this socket: send them once
        // more first, so a reply lost just before a graceful shutdown still arrives.
        for (auto& [seq, u] : replies_) SendFragmentsLocked(u, /*repair=*/true);
        for (auto& [seq, u] : out_) {
          if (!u.delivered) SendFragmentsLocked(u, /*repair=*/true);
        }
        DatagramHeader h = HeaderLocked(DatagramKind::kClose);
        char header[kDatagramHeaderSize];
        h.Serialize(header);
        RawSend(header, {}, {});
        RawSend(header, {}, {});
      }
      cv_.notify_all();
    }
    ::shutdown(fd_.get(), SHUT_RDWR);  // wakes a blocked recv
  });
  if (first && on_close_) on_close_();
}

}  // namespace ferry::udp
