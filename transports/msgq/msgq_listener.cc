#include "transports/msgq/msgq_listener.h"

#include <random>
#include <utility>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace ferry::msgq {

std::string OpenInfo::Encode() const { return absl::StrCat("v1 ", pid, " ", start_time, " ", reply); }

absl::StatusOr<OpenInfo> OpenInfo::Decode(absl::string_view body) {
  std::vector<absl::string_view> parts = absl::StrSplit(body, ' ');
  OpenInfo info;
  int64_t pid = 0;
  if (parts.size() != 4 || parts[0] != "v1" || !absl::SimpleAtoi(parts[1], &pid) || pid <= 0 ||
      pid > (1 << 30) || !absl::SimpleAtoi(parts[2], &info.start_time) || parts[3].empty() ||
      parts[3].size() > 255) {
    return absl::InvalidArgumentError("malformed OPEN piece");
  }
  info.pid = static_cast<pid_t>(pid);
  info.reply = std::string(parts[3]);
  return info;
}

absl::Status SendSignal(MsgQueue& q, long channel, PieceKind kind, uint32_t conn,
                        absl::Time until, absl::string_view body) {
  std::string m(kPieceHeaderSize + body.size(), '\0');
  PieceHeader h;
  h.kind = kind;
  h.conn = conn;
  BuildPiece(h, body, m.data());
  return q.Send(channel, kind == PieceKind::kWake, m, until);
}

uint32_t NewConnId() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}() ^ (counter.fetch_add(1) << 32));
  for (;;) {
    const uint32_t id = static_cast<uint32_t>(rng());
    if (id != kAcceptConn && id != kAnyConn) return id;
  }
}

MsgqListener::MsgqListener(std::shared_ptr<Hub> hub, std::unique_ptr<ListenerBackend> backend,
                           std::string address, const ConnectionLimits& limits)
    : hub_(std::move(hub)),
      backend_(std::move(backend)),
      address_(std::move(address)),
      limits_(limits),
      slot_(hub_->Register(kAcceptConn)),
      buf_(new char[hub_->queue()->max_message()]) {}

MsgqListener::~MsgqListener() { Close(); }

absl::StatusOr<std::unique_ptr<Connection>> MsgqListener::Admit(absl::string_view message,
                                                                bool refuse) {
  absl::StatusOr<PieceView> p = ParsePiece(message);
  if (!p.ok()) return p.status();
  if (p->header.kind != PieceKind::kOpen) {
    return absl::InvalidArgumentError("not an OPEN piece on the accept slot");
  }
  absl::StatusOr<OpenInfo> info = OpenInfo::Decode(p->body);
  if (!info.ok()) return info.status();
  const uint32_t conn = p->header.conn;
  std::shared_ptr<Hub::Slot> slot = hub_->Register(conn);
  if (slot == nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("connection id ", conn, " is taken"));
  }
  absl::StatusOr<MsgqEndpoint> e = backend_->Open(*info, conn);
  if (!e.ok()) {
    hub_->Unregister(conn);
    return e.status();
  }
  e->conn = conn;
  e->hub = hub_;
  e->slot = std::move(slot);
  const absl::Time until = absl::Now() + absl::Milliseconds(100);
  if (refuse) {
    SendSignal(*e->out, e->out_channel, PieceKind::kClose, conn, until).IgnoreError();
    hub_->Unregister(conn);
    if (e->release) e->release(false, false);
    return absl::UnavailableError("listener closed");
  }
  absl::Status s = SendSignal(*e->out, e->out_channel, PieceKind::kAccept, conn, until);
  if (!s.ok()) {
    hub_->Unregister(conn);
    if (e->release) e->release(!e->peer.Alive(), false);
    return s;
  }
  return std::unique_ptr<Connection>(new MsgqConnection(*std::move(e), limits_));
}

absl::StatusOr<std::unique_ptr<Connection>> MsgqListener::Accept() {
  std::lock_guard<std::mutex> lock(accept_mu_);
  for (;;) {
    if (closed_.load(std::memory_order_acquire) || slot_ == nullptr) {
      return absl::UnavailableError(absl::StrCat(address_, ": listener closed"));
    }
    absl::StatusOr<size_t> n = hub_->Next(*slot_, buf_.get(), absl::Now() + kWaitSlice);
    if (!n.ok()) {
      if (n.status().code() == absl::StatusCode::kDeadlineExceeded) continue;
      return absl::UnavailableError(absl::StrCat(address_, ": ", n.status().message()));
    }
    const absl::string_view m(buf_.get(), *n);
    if (m.size() >= 2 && static_cast<PieceKind>(m[1]) == PieceKind::kWake) continue;
    absl::StatusOr<std::unique_ptr<Connection>> c = Admit(m, /*refuse=*/false);
    if (c.ok()) return c;
    // One client's failure (it died, sent garbage) is not the listener's: keep waiting.
  }
}

void MsgqListener::Close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  backend_->Unpublish();
  if (slot_ == nullptr) return;
  hub_->CloseSlot(*slot_);
  // Clients whose OPEN is queued for us would otherwise wait for an Accept() that never
  // comes: tell them. (Accept() has returned or is returning: its slot is closed.)
  std::lock_guard<std::mutex> lock(accept_mu_);
  for (;;) {
    absl::StatusOr<size_t> n = hub_->Next(*slot_, buf_.get(), absl::InfinitePast());
    if (!n.ok()) break;
    Admit(absl::string_view(buf_.get(), *n), /*refuse=*/true).IgnoreError();
  }
  hub_->Unregister(kAcceptConn);
}

}  // namespace ferry::msgq
