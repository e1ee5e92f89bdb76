#include "transports/sysv/sysv_transport.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
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
namespace sysv {

namespace {
long ReadLong(const char* path) {
  std::ifstream in(path);
  long v = 0;
  if (!(in >> v)) return 0;
  return v;
}
}  // namespace

SysvLimits ReadSysvLimits() {
  return SysvLimits{ReadLong("/proc/sys/kernel/msgmax"), ReadLong("/proc/sys/kernel/msgmnb")};
}

namespace {

constexpr long kUrgentType = 1;
constexpr long kRequestType = 2;
constexpr long kFirstReplyType = 16;

std::string ServerRecord(absl::string_view name) {
  return absl::StrCat("sysv.", name, ".server");
}

// ---- Timed receive: the watchdog --------------------------------------------------------
//
// msgrcv cannot time out. A receiver with a deadline registers it here before blocking;
// when it passes, this thread posts a kWake piece (conn kAnyConn) to the type being waited
// on, which ends the msgrcv. Posts happen under the mutex, so once Disarm() returns no
// wake-up for that registration can still be posted (the connection's final purge of its
// type therefore removes every one). Registrations are cheap (no system call) unless the
// new deadline is earlier than the one the thread sleeps towards — with receivers that
// wait in 250 ms slices that is rare, and the thread wakes about four times a second while
// anyone waits, never while nobody has for a few seconds.
//
// A full queue has no room for the wake-up — and one whose server was SIGKILLed stays full
// for good (the requests in flight when it died), so its clients' receivers would block
// past every deadline and never see the death. Then the watchdog interrupts the receiver's
// msgrcv with a signal instead (kInterruptSignal, a no-op handler installed with
// SA_RESTART only if the signal is unused; msgrcv fails with EINTR regardless of
// SA_RESTART), every 5 ms until the receiver deregisters, since a signal that lands just
// before the msgrcv starts is lost. The signal goes to the registered thread under the
// mutex, so that thread is still inside Receive(); other calls it may interrupt on its way
// out (taking the mutex) are restarted.
class Watchdog {
 public:
  // Never destroyed: its detached thread uses it. A child forked from a process that has
  // one inherits the object but not the thread, and the mutex in whatever state it had: a
  // server child deadlocked in Arm() because the parent's watchdog thread held it at the
  // fork. So fork happens with the mutex taken by the forking thread (pthread_atfork), and
  // both sides release it. (The child gets no watchdog thread of its own, as before:
  // threads started after a multi-threaded fork are not supported everywhere, TSan.)
  static Watchdog& Get() {
    static Watchdog* const w = [] {
      auto* created = new Watchdog();
      ::pthread_atfork([] { Get().mu_.lock(); }, [] { Get().mu_.unlock(); },
                       [] { Get().mu_.unlock(); });
      return created;
    }();
    return *w;
  }

  uint64_t Arm(int id, long type, absl::Time until) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) {
      started_ = true;
      can_interrupt_ = InstallInterruptHandler();
      std::thread([this] { Run(); }).detach();
    }
    const uint64_t token = next_token_++;
    entries_.push_back(Entry{token, id, type, until, ::pthread_self()});
    if (until < target_) cv_.notify_one();
    return token;
  }

  void Disarm(uint64_t token) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].token == token) {
        entries_[i] = entries_.back();
        entries_.pop_back();
        return;
      }
    }
  }

 private:
  struct Entry {
    uint64_t token;
    int id;
    long type;
    absl::Time until;
    pthread_t thread;  // the receiver, blocked in msgrcv (or about to be)
  };

  static int InterruptSignal() { return SIGRTMIN + 7; }

  static void NoOp(int) {}

  // Installs the no-op handler unless the program has its own use for the signal.
  static bool InstallInterruptHandler() {
    struct sigaction old {};
    if (::sigaction(InterruptSignal(), nullptr, &old) != 0) return false;
    if (old.sa_handler == NoOp) return true;
    if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO) != 0) return false;
    struct sigaction sa {};
    sa.sa_handler = NoOp;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return ::sigaction(InterruptSignal(), &sa, nullptr) == 0;
  }

  void Run() {
    struct {
      long mtype;
      char text[msgq::kPieceHeaderSize];
    } wake;
    msgq::PieceHeader h;
    h.kind = msgq::PieceKind::kWake;
    h.conn = msgq::kAnyConn;
    msgq::BuildPiece(h, {}, wake.text);
    int idle = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      const absl::Time now = absl::Now();
      absl::Time earliest = absl::InfiniteFuture();
      for (size_t i = 0; i < entries_.size();) {
        Entry& e = entries_[i];
        if (e.until <= now) {
          wake.mtype = e.type;
          if (::msgsnd(e.id, &wake, sizeof(wake.text), IPC_NOWAIT) != 0 && errno == EAGAIN) {
            // Full: interrupt the receiver's msgrcv; post (and interrupt) again shortly.
            if (can_interrupt_) ::pthread_kill(e.thread, InterruptSignal());
            e.until = now + absl::Milliseconds(5);
          } else {
            entries_[i] = entries_.back();  // posted, or the queue is gone
            entries_.pop_back();
            continue;
          }
        }
        earliest = std::min(earliest, e.until);
        ++i;
      }
      if (entries_.empty()) {
        target_ = ++idle < 16 ? now + msgq::kWaitSlice : absl::InfiniteFuture();
      } else {
        idle = 0;
        target_ = earliest;
      }
      if (target_ == absl::InfiniteFuture()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, absl::ToChronoTime(target_));
      }
    }
  }

  // std::mutex: Debian's absl::Mutex runs deadlock detection on every lock, and this one
  // is taken twice per timed receive.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Entry> entries_;  // guarded by mu_
  absl::Time target_ = absl::InfiniteFuture();
  uint64_t next_token_ = 1;
  bool started_ = false;
  bool can_interrupt_ = false;
};

// ---- The queue --------------------------------------------------------------------------

class SysvQueue final : public msgq::MsgQueue {
 public:
  // `owner`: removes the queue (IPC_RMID) when destroyed.
  SysvQueue(int id, size_t max, bool owner) : id_(id), max_(max), owner_(owner) {}
  ~SysvQueue() override {
    if (owner_) ::msgctl(id_, IPC_RMID, nullptr);
  }

  int id() const { return id_; }

  absl::Status Send(long type, bool, absl::string_view m, absl::Time until) override {
    if (m.size() > max_) return absl::ResourceExhaustedError("message above the queue's size");
    char* buf = Scratch();
    std::memcpy(buf, &type, sizeof(long));
    std::memcpy(buf + sizeof(long), m.data(), m.size());
    absl::Duration backoff = absl::Microseconds(50);
    absl::Time spin_until = absl::InfinitePast();
    for (;;) {
      if (::msgsnd(id_, buf, m.size(), IPC_NOWAIT) == 0) return absl::OkStatus();
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EIDRM || err == EINVAL) return absl::UnavailableError("message queue removed");
      if (err != EAGAIN) return ErrnoStatus("msgsnd", err);
      // Full. No timed msgsnd exists (a blocking one could outlive the deadline and Close()).
      // A queue that is being drained (a large frame streaming through a 16 KiB queue) frees
      // room within microseconds: yield for up to 100 us first — a sleep costs ~60 us of
      // timer slack each time — then sleep with a growing backoff, never past `until`.
      const absl::Time now = absl::Now();
      if (now >= until) return absl::DeadlineExceededError("message queue full");
      if (spin_until == absl::InfinitePast()) spin_until = now + absl::Microseconds(100);
      if (now < spin_until) {
        sched_yield();
        continue;
      }
      absl::SleepFor(std::min(backoff, until - now));
      backoff = std::min(backoff * 2, absl::Milliseconds(2));
    }
  }

  absl::StatusOr<size_t> Receive(long type, char* buf, absl::Time until) override {
    char* tmp = Scratch();
    const absl::Time now = absl::Now();
    const bool wait = until > now;
    // A negative type is answered from the lowest type up to it: wake that one.
    const long wake_type = type < 0 ? 1 : type;
    for (;;) {
      uint64_t token = 0;
      if (wait) token = Watchdog::Get().Arm(id_, wake_type, until);
      const ssize_t n =
          ::msgrcv(id_, tmp, max_, type, MSG_NOERROR | (wait ? 0 : IPC_NOWAIT));
      const int err = errno;
      if (wait) Watchdog::Get().Disarm(token);
      if (n >= 0) {
        std::memcpy(buf, tmp + sizeof(long), static_cast<size_t>(n));
        return static_cast<size_t>(n);
      }
      if (err == EINTR) {
        if (absl::Now() >= until) return absl::DeadlineExceededError("no message");
        continue;
      }
      if (err == ENOMSG) return absl::DeadlineExceededError("no message");
      if (err == EIDRM || err == EINVAL) return absl::UnavailableError("message queue removed");
      return ErrnoStatus("msgrcv", err);
    }
  }

  size_t max_message() const override { return max_; }

  // Removes every message of `type` (a connection's leftovers).
  void Purge(long type) {
    char* tmp = Scratch();
    for (int i = 0; i < 100000; ++i) {
      if (::msgrcv(id_, tmp, max_, type, IPC_NOWAIT | MSG_NOERROR) < 0 && errno != EINTR) return;
    }
  }

 private:
  // One buffer per thread: the long mtype followed by the text.
  char* Scratch() {
    thread_local std::vector<char> buf;
    if (buf.size() < sizeof(long) + max_) buf.resize(sizeof(long) + max_);
    return buf.data();
  }

  const int id_;
  const size_t max_;
  const bool owner_;
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

absl::StatusOr<std::string> ParseName(const Address& a) {
  if (absl::Status s = a.CheckOptions({}); !s.ok()) return s;
  if (!ValidName(a.target)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sysv name \"", a.target, "\" must be 1-64 of [A-Za-z0-9._-]"));
  }
  return a.target;
}

// The largest message for queue `id`: msgmax, and no more than the queue holds.
size_t MaxMessage(int id) {
  const SysvLimits lim = ReadSysvLimits();
  msqid_ds ds{};
  long qbytes = 0;
  if (::msgctl(id, IPC_STAT, &ds) == 0) qbytes = static_cast<long>(ds.msg_qbytes);
  long m = lim.msgmax > 0 ? lim.msgmax : 8192;
  if (qbytes > 0) m = std::min(m, qbytes);
  return static_cast<size_t>(m);
}

// Removes queue `id` if it is one of ours (our uid, mode 0600): a dead server's.
void RemoveStaleQueue(int id) {
  msqid_ds ds{};
  if (::msgctl(id, IPC_STAT, &ds) != 0) return;
  if (ds.msg_perm.uid != ::geteuid() || (ds.msg_perm.mode & 0777) != 0600) return;
  ::msgctl(id, IPC_RMID, nullptr);
}

class SysvBackend final : public msgq::ListenerBackend {
 public:
  SysvBackend(std::string name, std::shared_ptr<SysvQueue> q)
      : name_(std::move(name)), q_(std::move(q)) {}
  ~SysvBackend() override { Unpublish(); }

  absl::StatusOr<msgq::MsgqEndpoint> Open(const msgq::OpenInfo& info, uint32_t) override {
    long type = 0;
    if (!absl::SimpleAtoi(info.reply, &type) || type < kFirstReplyType ||
        ((type - kFirstReplyType) >> 20) != info.pid) {
      return absl::InvalidArgumentError(absl::StrCat("OPEN names reply type ", info.reply));
    }
    absl::StatusOr<msgq::PeerProcess> peer = msgq::PeerProcess::Watch(info.pid, info.start_time);
    if (!peer.ok()) {
      q_->Purge(type);
      return peer.status();
    }
    msgq::MsgqEndpoint e;
    e.out = q_;
    e.out_channel = type;
    e.out_urgent_channel = type;  // a client reads exactly its type: no way to overtake
    e.peer = *std::move(peer);
    e.description = absl::StrCat("sysv://", name_, " pid=", info.pid, " type=", type,
                                 " msqid=", q_->id());
    e.release = [q = q_, type](bool peer_dead, bool peer_closed) {
      // Nobody will read that type again: what is left there would only fill the queue.
      if (peer_dead || peer_closed) q->Purge(type);
    };
    return e;
  }

  void Unpublish() override {
    if (published_.exchange(false)) msgq::RemoveRecord(ServerRecord(name_));
  }

 private:
  const std::string name_;
  const std::shared_ptr<SysvQueue> q_;
  std::atomic<bool> published_{true};
};

}  // namespace

absl::StatusOr<int> RecordedQueueId(absl::string_view name) {
  absl::StatusOr<msgq::Record> r = msgq::ReadRecord(ServerRecord(name));
  if (!r.ok()) return r.status();
  int id = -1;
  if (!absl::SimpleAtoi(r->extra, &id) || id < 0) {
    return absl::InvalidArgumentError("malformed sysv record");
  }
  return id;
}

}  // namespace sysv

absl::StatusOr<std::unique_ptr<Listener>> SysvTransport::Listen(const Address& address,
                                                                const ConnectionLimits& limits) {
  absl::StatusOr<std::string> name = sysv::ParseName(address);
  if (!name.ok()) return name.status();
  const int id = ::msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (id < 0) {
    const int err = errno;
    if (err == ENOSPC) {
      return absl::ResourceExhaustedError("msgget: the system's queue limit (msgmni) is reached");
    }
    return ErrnoStatus("msgget", err);
  }
  // Bigger than msgmnb only with CAP_SYS_RESOURCE; where allowed, requests and replies get
  // room to breathe (1 MiB). Refused otherwise, which is fine.
  msqid_ds ds{};
  if (::msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qbytes < (1u << 20)) {
    ds.msg_qbytes = 1u << 20;
    ::msgctl(id, IPC_SET, &ds);
  }
  auto q = std::make_shared<sysv::SysvQueue>(id, sysv::MaxMessage(id), /*owner=*/true);
  if (q->max_message() < msgq::kMinMessageSize) {
    return absl::ResourceExhaustedError(
        absl::StrCat("sysv messages of ", q->max_message(), " bytes are too small"));
  }
  const std::string record = sysv::ServerRecord(*name);
  const msgq::Record me{::getpid(), msgq::ProcessStartTime(::getpid()), absl::StrCat(id)};
  absl::Status made = msgq::CreateRecord(record, me);
  if (made.code() == absl::StatusCode::kAlreadyExists) {
    absl::StatusOr<msgq::Record> old = msgq::ReadRecord(record);
    if (old.ok() && msgq::ProcessAlive(old->pid, old->start_time)) {
      return absl::AlreadyExistsError(
          absl::StrCat(address.ToString(), " is served by live process ", old->pid));
    }
    // A dead server's name: its queue goes, the name is ours.
    int old_id = -1;
    if (old.ok() && absl::SimpleAtoi(old->extra, &old_id) && old_id >= 0) {
      sysv::RemoveStaleQueue(old_id);
    }
    msgq::RemoveRecord(record);
    made = msgq::CreateRecord(record, me);
    if (made.code() == absl::StatusCode::kAlreadyExists) {
      return absl::AlreadyExistsError(absl::StrCat(address.ToString(), " was just taken"));
    }
  }
  if (!made.ok()) return made;
  const size_t inbox_limit = 4 * (size_t{limits.max_frame_payload} + kFrameHeaderSize) + (1 << 20);
  auto hub = std::make_shared<msgq::Hub>(q, -sysv::kRequestType, sysv::kUrgentType, inbox_limit);
  return std::unique_ptr<Listener>(new msgq::MsgqListener(
      std::move(hub), std::make_unique<sysv::SysvBackend>(*name, q), address.ToString(),
      limits));
}

absl::StatusOr<std::unique_ptr<Connection>> SysvTransport::Connect(const Address& address,
                                                                   const ConnectionLimits& limits,
                                                                   absl::Time deadline) {
  absl::StatusOr<std::string> name = sysv::ParseName(address);
  if (!name.ok()) return name.status();
  const std::string record = sysv::ServerRecord(*name);
  absl::StatusOr<msgq::Record> server = msgq::ReadRecord(record);
  int id = -1;
  if (!server.ok() || !absl::SimpleAtoi(server->extra, &id) || id < 0) {
    if (!server.ok() && server.status().code() != absl::StatusCode::kNotFound &&
        server.status().code() != absl::StatusCode::kInvalidArgument) {
      return server.status();
    }
    return absl::UnavailableError(absl::StrCat("nobody listens on ", address.ToString()));
  }
  absl::StatusOr<msgq::PeerProcess> peer = msgq::PeerProcess::Watch(server->pid, server->start_time);
  if (!peer.ok()) {
    return absl::UnavailableError(
        absl::StrCat(address.ToString(), ": its server process ", server->pid, " is gone"));
  }
  msqid_ds ds{};
  if (::msgctl(id, IPC_STAT, &ds) != 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(
          absl::StrCat(address.ToString(), ": queue ", id, " belongs to another user"));
    }
    return absl::UnavailableError(absl::StrCat(address.ToString(), ": queue ", id, " is gone"));
  }
  auto q = std::make_shared<sysv::SysvQueue>(id, sysv::MaxMessage(id), /*owner=*/false);
  static std::atomic<uint64_t> counter{0};
  const pid_t pid = ::getpid();
  const long type = sysv::kFirstReplyType + (static_cast<long>(pid) << 20) +
                    static_cast<long>(counter.fetch_add(1) & 0xFFFFF);
  const uint32_t conn = msgq::NewConnId();
  msgq::OpenInfo info{pid, msgq::ProcessStartTime(pid), absl::StrCat(type)};
  q->Purge(type);  // a dead process with our pid may have left replies there
  absl::Status s =
      msgq::SendSignal(*q, sysv::kRequestType, msgq::PieceKind::kOpen, conn, deadline, info.Encode());
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(
          absl::StrCat(address.ToString(), ": the server's queue stayed full"));
    }
    return s;
  }
  msgq::MsgqEndpoint e;
  e.conn = conn;
  e.out = q;
  e.out_channel = sysv::kRequestType;
  e.out_urgent_channel = sysv::kUrgentType;
  e.in = q;
  e.in_channel = type;
  e.peer = *std::move(peer);
  e.description = absl::StrCat("sysv://", *name, " pid=", server->pid, " msqid=", id,
                               " type=", type);
  e.accepted = false;
  e.listener_gone = [record, server_pid = server->pid] {
    absl::StatusOr<msgq::Record> r = msgq::ReadRecord(record);
    return !r.ok() || r->pid != server_pid;
  };
  e.release = [q, type](bool, bool) { q->Purge(type); };
  return std::unique_ptr<Connection>(new msgq::MsgqConnection(std::move(e), limits));
}

}  // namespace ferry
