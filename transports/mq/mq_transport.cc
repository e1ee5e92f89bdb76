#include "transports/mq/mq_transport.h"

#include <fcntl.h>
#include <mqueue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/status.h"
#include "transports/msgq/hub.h"
#include "transports/msgq/msgq_connection.h"
#include "transports/msgq/msgq_listener.h"
#include "transports/msgq/process.h"
#include "transports/msgq/queue.h"

namespace ferry {
namespace mq {

long ReadLong(const char* path) {
  std::ifstream in(path);
  long v = 0;
  if (!(in >> v)) return 0;
  return v;
}

MqLimits ReadMqLimits() {
  return MqLimits{ReadLong("/proc/sys/fs/mqueue/msg_max"),
                  ReadLong("/proc/sys/fs/mqueue/msgsize_max")};
}

namespace {

using msgq::MsgQueue;

timespec ToAbsTimespec(absl::Time t) {
  if (t == absl::InfinitePast()) return timespec{0, 0};
  return absl::ToTimespec(t);
}

// One POSIX queue descriptor.
class MqQueue final : public MsgQueue {
 public:
  MqQueue(mqd_t q, size_t msgsize) : q_(q), msgsize_(msgsize) {}
  ~MqQueue() override { ::mq_close(q_); }

  absl::Status Send(long, bool urgent, absl::string_view m, absl::Time until) override {
    const timespec ts = ToAbsTimespec(until);
    for (;;) {
      if (::mq_timedsend(q_, m.data(), m.size(), urgent ? 1 : 0, &ts) == 0) {
        return absl::OkStatus();
      }
      const int err = errno;
      if (err == EINTR) continue;
      if (err == ETIMEDOUT || err == EAGAIN) {
        return absl::DeadlineExceededError("message queue full");
      }
      if (err == EBADF) return absl::UnavailableError("message queue closed");
      if (err == EMSGSIZE) return absl::ResourceExhaustedError("message above the queue's size");
      return ErrnoStatus("mq_timedsend", err);
    }
  }

  absl::StatusOr<size_t> Receive(long, char* buf, absl::Time until) override {
    const timespec ts = ToAbsTimespec(until);
    for (;;) {
      const ssize_t n = ::mq_timedreceive(q_, buf, msgsize_, nullptr, &ts);
      if (n >= 0) return static_cast<size_t>(n);
      const int err = errno;
      if (err == EINTR) continue;
      if (err == ETIMEDOUT || err == EAGAIN) {
        return absl::DeadlineExceededError("no message before the deadline");
      }
      if (err == EBADF) return absl::UnavailableError("message queue closed");
      return ErrnoStatus("mq_timedreceive", err);
    }
  }

  size_t max_message() const override { return msgsize_; }

 private:
  const mqd_t q_;
  const size_t msgsize_;
};

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

struct Parsed {
  std::string name;
  long msgsize = 0;  // 0: the system's maximum
  long maxmsg = 0;
};

absl::StatusOr<Parsed> ParseAddress(const Address& a) {
  if (absl::Status s = a.CheckOptions({"msgsize", "maxmsg"}); !s.ok()) return s;
  Parsed p;
  p.name = a.target;
  if (!ValidName(p.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("mq name \"", p.name, "\" must be 1-64 of [A-Za-z0-9._-]"));
  }
  if (const std::string* v = a.Option("msgsize")) {
    if (!absl::SimpleAtoi(*v, &p.msgsize) || p.msgsize < static_cast<long>(msgq::kMinMessageSize) ||
        p.msgsize > (64 << 20)) {
      return absl::InvalidArgumentError(absl::StrCat("mq msgsize=", *v, " is not ",
                                                     msgq::kMinMessageSize, "..64M"));
    }
  }
  if (const std::string* v = a.Option("maxmsg")) {
    if (!absl::SimpleAtoi(*v, &p.maxmsg) || p.maxmsg < 1 || p.maxmsg > 65536) {
      return absl::InvalidArgumentError(absl::StrCat("mq maxmsg=", *v, " is not 1..65536"));
    }
  }
  return p;
}

std::string ServerQueue(const std::string& name) { return absl::StrCat("/ferry.", name); }
std::string ServerRecord(const std::string& name) { return absl::StrCat("mq.", name, ".server"); }
// Client queues: '+' cannot occur in a name, so no server name can collide with them.
std::string ClientPrefix(const std::string& name) { return absl::StrCat("mq.", name, "+"); }

}  // namespace

// Default sizes: the largest message the system allows (msgsize_max), and as many as
// msg_max — but every queue's bytes count against the user's RLIMIT_MSGQUEUE (800 KiB by
// default, for all of the user's queues together), so a queue takes at most 1/`share` of
// it by default: a server's request queue, shared by all its clients, 1/8 (ten 8 KiB
// messages with the kernel's default limits); a client's reply queue 1/96 (two 4 KiB
// messages: 64 clients of one server, the load suite's count, fit beside its request queue
// with a fifth of the budget to spare, where two 8 KiB messages capped a server at ~44).
// Never fewer than two messages: a client that reads nothing must still find its kAccept
// and the server's kClose, or it would never learn that the server closed. And if the
// kernel still says no (EMFILE), fewer messages, then smaller ones: a server with many
// clients, or a machine with raised limits, must not run out after a few queues.
absl::StatusOr<mqd_t> CreateMqd(const std::string& qname, long msgsize, long maxmsg, int flags,
                                int share) {
  const MqLimits lim = ReadMqLimits();
  const bool explicit_size = msgsize > 0 || maxmsg > 0;
  mq_attr attr{};
  attr.mq_maxmsg = maxmsg > 0 ? maxmsg : lim.msg_max;
  attr.mq_msgsize = msgsize > 0 ? msgsize : lim.msgsize_max;
  rlimit rl{};
  if (!explicit_size && attr.mq_maxmsg > 0 && attr.mq_msgsize > 0 &&
      ::getrlimit(RLIMIT_MSGQUEUE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    const long budget = static_cast<long>(rl.rlim_cur / std::max(share, 1));
    // Messages first come down to 8 KiB (the kernel's own default), then fewer of them
    // (down to two), then smaller again (down to 4 KiB).
    while (attr.mq_msgsize > 8192 && attr.mq_maxmsg * attr.mq_msgsize > budget) {
      attr.mq_msgsize /= 2;
    }
    while (attr.mq_maxmsg > 2 && attr.mq_maxmsg * attr.mq_msgsize > budget) --attr.mq_maxmsg;
    while (attr.mq_msgsize > 4096 && attr.mq_maxmsg * attr.mq_msgsize > budget) {
      attr.mq_msgsize /= 2;
    }
  }
  mq_attr* use = attr.mq_maxmsg > 0 && attr.mq_msgsize > 0 ? &attr : nullptr;
  mqd_t q;
  for (;;) {
    q = ::mq_open(qname.c_str(), flags | O_CREAT | O_EXCL | O_CLOEXEC, 0600, use);
    if (q != static_cast<mqd_t>(-1) || explicit_size || use == nullptr) break;
    if (errno == EINVAL) {
      // The limits we read are not what this process may use (a container): the defaults.
      use = nullptr;
    } else if (errno == EMFILE && attr.mq_maxmsg > 2) {
      attr.mq_maxmsg = std::max(2L, attr.mq_maxmsg / 2);  // never one: see above
    } else if (errno == EMFILE && attr.mq_msgsize > static_cast<long>(2 * msgq::kMinMessageSize)) {
      attr.mq_msgsize /= 2;
    } else {
      break;
    }
  }
  if (q == static_cast<mqd_t>(-1)) {
    const int err = errno;
    if (err == EEXIST) return absl::AlreadyExistsError(absl::StrCat(qname, " exists"));
    if (err == EINVAL && explicit_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mq_open(", qname, ") refused msgsize=", attr.mq_msgsize, " maxmsg=", attr.mq_maxmsg,
          ": above /proc/sys/fs/mqueue limits (msgsize_max ", lim.msgsize_max, ", msg_max ",
          lim.msg_max, ") without CAP_SYS_RESOURCE"));
    }
    if (err == EMFILE || err == ENOMEM || err == ENOSPC) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "mq_open(", qname, "): ", std::strerror(err),
          " (per-user queue memory RLIMIT_MSGQUEUE or queues_max used up)"));
    }
    return ErrnoStatus(absl::StrCat("mq_open(", qname, ")"), err);
  }
  // The umask may only have narrowed 0600; make it exactly 0600.
  ::fchmod(static_cast<int>(q), 0600);
  return q;
}

namespace {

// Creates a queue with O_EXCL and mode 0600. EEXIST is returned as ALREADY_EXISTS.
absl::StatusOr<std::shared_ptr<MqQueue>> CreateQueue(const std::string& qname, const Parsed& p,
                                                     int share) {
  absl::StatusOr<mqd_t> made = CreateMqd(qname, p.msgsize, p.maxmsg, O_RDWR, share);
  if (!made.ok()) return made.status();
  const mqd_t q = *made;
  mq_attr got{};
  ::mq_getattr(q, &got);
  if (got.mq_msgsize < static_cast<long>(msgq::kMinMessageSize)) {
    ::mq_close(q);
    ::mq_unlink(qname.c_str());
    return absl::ResourceExhaustedError(
        absl::StrCat(qname, ": message size ", got.mq_msgsize, " is too small"));
  }
  return std::make_shared<MqQueue>(q, static_cast<size_t>(got.mq_msgsize));
}

absl::StatusOr<std::shared_ptr<MqQueue>> OpenQueue(const std::string& qname, int flags) {
  mqd_t q = ::mq_open(qname.c_str(), flags | O_CLOEXEC);
  if (q == static_cast<mqd_t>(-1)) {
    const int err = errno;
    if (err == ENOENT) return absl::UnavailableError(absl::StrCat("no queue ", qname));
    return ErrnoStatus(absl::StrCat("mq_open(", qname, ")"), err);
  }
  mq_attr got{};
  ::mq_getattr(q, &got);
  return std::make_shared<MqQueue>(q, static_cast<size_t>(got.mq_msgsize));
}

// Removes this name's client queues whose owner is dead.
void ReclaimDeadClients(const std::string& name) {
  const std::string prefix = ClientPrefix(name);
  for (const std::string& file : msgq::ListRecords(prefix)) {
    absl::StatusOr<msgq::Record> r = msgq::ReadRecord(file);
    if (r.ok() && msgq::ProcessAlive(r->pid, r->start_time)) continue;
    ::mq_unlink(absl::StrCat("/ferry.", file.substr(3)).c_str());  // "mq.<name>+<pid>.<n>"
    msgq::RemoveRecord(file);
  }
}

class MqBackend final : public msgq::ListenerBackend {
 public:
  explicit MqBackend(std::string name) : name_(std::move(name)) {}
  ~MqBackend() override { Unpublish(); }

  absl::StatusOr<msgq::MsgqEndpoint> Open(const msgq::OpenInfo& info, uint32_t) override {
    // Only a queue of this server's client namespace, named after the client's own pid.
    const std::string want = absl::StrCat("/ferry.", name_, "+", info.pid, ".");
    if (!absl::StartsWith(info.reply, want) || info.reply.size() == want.size() ||
        info.reply.find_first_not_of("0123456789", want.size()) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("OPEN names reply queue ", info.reply));
    }
    const std::string record = absl::StrCat("mq.", info.reply.substr(7));
    absl::StatusOr<msgq::PeerProcess> peer = msgq::PeerProcess::Watch(info.pid, info.start_time);
    if (!peer.ok()) {
      ::mq_unlink(info.reply.c_str());
      msgq::RemoveRecord(record);
      return peer.status();
    }
    absl::StatusOr<std::shared_ptr<MqQueue>> out = OpenQueue(info.reply, O_WRONLY);
    if (!out.ok()) return out.status();
    msgq::MsgqEndpoint e;
    e.out = *std::move(out);
    e.peer = *std::move(peer);
    e.description = absl::StrCat("mq://", name_, " pid=", info.pid, " queue=", info.reply);
    e.release = [reply = info.reply, record](bool peer_dead, bool) {
      if (peer_dead) {  // its owner cannot remove it any more
        ::mq_unlink(reply.c_str());
        msgq::RemoveRecord(record);
      }
    };
    return e;
  }

  void Unpublish() override {
    if (published_.exchange(false)) {
      ::mq_unlink(ServerQueue(name_).c_str());
      msgq::RemoveRecord(ServerRecord(name_));
    }
  }

 private:
  const std::string name_;
  std::atomic<bool> published_{true};
};

}  // namespace
}  // namespace mq

absl::StatusOr<std::unique_ptr<Listener>> MqTransport::Listen(const Address& address,
                                                              const ConnectionLimits& limits) {
  absl::StatusOr<mq::Parsed> p = mq::ParseAddress(address);
  if (!p.ok()) return p.status();
  const std::string record = mq::ServerRecord(p->name);
  const std::string qname = mq::ServerQueue(p->name);
  const msgq::Record me{::getpid(), msgq::ProcessStartTime(::getpid()), "-"};
  absl::Status made = msgq::CreateRecord(record, me);
  if (made.code() == absl::StatusCode::kAlreadyExists) {
    absl::StatusOr<msgq::Record> old = msgq::ReadRecord(record);
    if (old.ok() && msgq::ProcessAlive(old->pid, old->start_time)) {
      return absl::AlreadyExistsError(
          absl::StrCat(address.ToString(), " is served by live process ", old->pid));
    }
    // A dead server's name: take it over (its queue goes; this name's dead clients too).
    ::mq_unlink(qname.c_str());
    msgq::RemoveRecord(record);
    made = msgq::CreateRecord(record, me);
    if (made.code() == absl::StatusCode::kAlreadyExists) {
      return absl::AlreadyExistsError(absl::StrCat(address.ToString(), " was just taken"));
    }
  }
  if (!made.ok()) return made;
  mq::ReclaimDeadClients(p->name);
  absl::StatusOr<std::shared_ptr<mq::MqQueue>> q = mq::CreateQueue(qname, *p, mq::kServerQueueShare);
  if (q.status().code() == absl::StatusCode::kAlreadyExists) {
    // A queue with no live record: left by a process that died before recording it.
    ::mq_unlink(qname.c_str());
    q = mq::CreateQueue(qname, *p, mq::kServerQueueShare);
  }
  if (!q.ok()) {
    msgq::RemoveRecord(record);
    return q.status();
  }
  const size_t inbox_limit = 4 * (size_t{limits.max_frame_payload} + kFrameHeaderSize) + (1 << 20);
  auto hub = std::make_shared<msgq::Hub>(*q, 0, 0, inbox_limit);
  return std::unique_ptr<Listener>(new msgq::MsgqListener(
      std::move(hub), std::make_unique<mq::MqBackend>(p->name), address.ToString(), limits));
}

absl::StatusOr<std::unique_ptr<Connection>> MqTransport::Connect(const Address& address,
                                                                 const ConnectionLimits& limits,
                                                                 absl::Time deadline) {
  absl::StatusOr<mq::Parsed> p = mq::ParseAddress(address);
  if (!p.ok()) return p.status();
  const std::string record = mq::ServerRecord(p->name);
  absl::StatusOr<msgq::Record> server = msgq::ReadRecord(record);
  if (!server.ok()) {
    if (server.status().code() == absl::StatusCode::kNotFound ||
        server.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::UnavailableError(absl::StrCat("nobody listens on ", address.ToString()));
    }
    return server.status();
  }
  absl::StatusOr<msgq::PeerProcess> peer = msgq::PeerProcess::Watch(server->pid, server->start_time);
  if (!peer.ok()) {
    return absl::UnavailableError(
        absl::StrCat(address.ToString(), ": its server process ", server->pid, " is gone"));
  }
  absl::StatusOr<std::shared_ptr<mq::MqQueue>> out =
      mq::OpenQueue(mq::ServerQueue(p->name), O_WRONLY);
  if (!out.ok()) {
    if (out.status().code() == absl::StatusCode::kUnavailable) {
      return absl::UnavailableError(absl::StrCat("nobody listens on ", address.ToString()));
    }
    return out.status();
  }
  // The reply queue, recorded before it exists so a crash in between leaves nothing
  // unaccounted for.
  static std::atomic<uint64_t> counter{0};
  const pid_t pid = ::getpid();
  const msgq::Record me{pid, msgq::ProcessStartTime(pid), "-"};
  std::string reply, reply_record;
  std::shared_ptr<mq::MqQueue> in;
  for (int attempt = 0; attempt < 8 && in == nullptr; ++attempt) {
    const uint64_t n = counter.fetch_add(1);
    reply = absl::StrCat("/ferry.", p->name, "+", pid, ".", n);
    reply_record = absl::StrCat("mq.", p->name, "+", pid, ".", n);
    absl::Status s = msgq::CreateRecord(reply_record, me);
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      // A process that had our pid before us and died: its leftovers go.
      absl::StatusOr<msgq::Record> old = msgq::ReadRecord(reply_record);
      if (old.ok() && msgq::ProcessAlive(old->pid, old->start_time)) continue;
      ::mq_unlink(reply.c_str());
      msgq::RemoveRecord(reply_record);
      s = msgq::CreateRecord(reply_record, me);
    }
    if (!s.ok()) return s;
    absl::StatusOr<std::shared_ptr<mq::MqQueue>> q = mq::CreateQueue(reply, *p, mq::kClientQueueShare);
    if (q.status().code() == absl::StatusCode::kAlreadyExists) {
      ::mq_unlink(reply.c_str());
      q = mq::CreateQueue(reply, *p, mq::kClientQueueShare);
    }
    if (!q.ok()) {
      msgq::RemoveRecord(reply_record);
      return q.status();
    }
    in = *std::move(q);
  }
  if (in == nullptr) return absl::ResourceExhaustedError("no free reply queue name");

  const uint32_t conn = msgq::NewConnId();
  msgq::OpenInfo info{pid, me.start_time, reply};
  absl::Status s = msgq::SendSignal(**out, 0, msgq::PieceKind::kOpen, conn, deadline, info.Encode());
  if (!s.ok()) {
    ::mq_unlink(reply.c_str());
    msgq::RemoveRecord(reply_record);
    if (s.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(
          absl::StrCat(address.ToString(), ": the server's queue stayed full"));
    }
    return s;
  }
  msgq::MsgqEndpoint e;
  e.conn = conn;
  e.out = *std::move(out);
  e.in = std::move(in);
  e.peer = *std::move(peer);
  e.description = absl::StrCat("mq://", p->name, " pid=", server->pid);
  e.accepted = false;
  e.listener_gone = [record, server_pid = server->pid] {
    absl::StatusOr<msgq::Record> r = msgq::ReadRecord(record);
    return !r.ok() || r->pid != server_pid;
  };
  e.release = [reply, reply_record](bool, bool) {
    ::mq_unlink(reply.c_str());
    msgq::RemoveRecord(reply_record);
  };
  return std::unique_ptr<Connection>(new msgq::MsgqConnection(std::move(e), limits));
}

}  // namespace ferry
