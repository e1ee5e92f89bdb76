#include "transports/fifo/fifo_transport.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "runtime/status.h"
#include "transports/pipe/pipe_stream.h"
#include "transports/stream/stream_connection.h"

namespace ferry {
namespace {

constexpr char kMagic[] = "ferry-fifo1";
constexpr char kAccept = kFifoAcceptByte;
// The longest line Accept() buffers while looking for a newline (garbage protection).
constexpr size_t kMaxLine = 4 * kMaxAnnouncement;

std::string Join(const std::string& dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name);
}

// "c<pid>-<n>-<hex>": only these characters, so a hostile announcement cannot name a
// path outside the directory.
bool ValidStem(absl::string_view stem, pid_t pid) {
  if (stem.size() > 64 || !absl::StartsWith(stem, absl::StrCat("c", pid, "-"))) return false;
  for (char c : stem) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == 'c' || c == '-')) return false;
  }
  return true;
}

// The pid in a client FIFO name "c<pid>-....up|down", or -1.
pid_t PidOfClientFifo(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "c")) return -1;
  if (!absl::EndsWith(name, ".up") && !absl::EndsWith(name, ".down")) return -1;
  const size_t dash = name.find('-');
  int pid = -1;
  if (dash == absl::string_view::npos || !absl::SimpleAtoi(name.substr(0, dash), &pid)) return -1;
  return pid > 0 ? pid : -1;
}

void UnlinkPair(const std::string& dir, absl::string_view stem) {
  ::unlink(Join(dir, absl::StrCat(stem, ".up")).c_str());
  ::unlink(Join(dir, absl::StrCat(stem, ".down")).c_str());
}

// mkfifo with exactly mode 0600 whatever the umask (which can only remove bits).
absl::Status MakeFifo(const std::string& path) {
  if (::mkfifo(path.c_str(), 0600) != 0) {
    return ErrnoStatus(absl::StrCat("mkfifo(", path, ")"), errno);
  }
  if (::chmod(path.c_str(), 0600) != 0) {
    absl::Status s = ErrnoStatus(absl::StrCat("chmod(", path, ")"), errno);
    ::unlink(path.c_str());
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> Open(const std::string& path, int flags) {
  absl::StatusOr<int> fd = Syscall(absl::StrCat("open(", path, ")"), [&] {
    return ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW);
  });
  if (!fd.ok()) return fd.status();
  return UniqueFd(*fd);
}

std::string RandomHex() {
  uint32_t r = 0;
  if (::getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
    r = static_cast<uint32_t>(absl::ToUnixNanos(absl::Now()));
  }
  return absl::StrFormat("%08x", r);
}

absl::Status CheckDirAddress(const Address& address) {
  if (absl::Status s = address.CheckOptions({}); !s.ok()) return s;
  if (address.target.empty() || address.target[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("fifo: address \"", address.ToString(), "\" needs an absolute directory"));
  }
  return absl::OkStatus();
}

}  // namespace

int SweepDeadClientFifos(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  int removed = 0;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = PidOfClientFifo(e->d_name);
    if (pid < 0) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    const std::string path = Join(dir, e->d_name);
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode) && ::unlink(path.c_str()) == 0) {
      ++removed;
    }
  }
  ::closedir(d);
  return removed;
}

// ---- Client -----------------------------------------------------------------------------

absl::StatusOr<FifoPair> FifoConnectRaw(const std::string& dir, absl::Time deadline,
                                        bool wait_for_accept) {
  static std::atomic<uint64_t> counter{0};
  const pid_t pid = ::getpid();
  const std::string stem = absl::StrCat("c", pid, "-", counter.fetch_add(1), "-", RandomHex());
  const std::string up = Join(dir, absl::StrCat(stem, ".up"));
  const std::string down = Join(dir, absl::StrCat(stem, ".down"));
  const std::string where = absl::StrCat("fifo:", dir);

  if (absl::Status s = MakeFifo(up); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
  }
  if (absl::Status s = MakeFifo(down); !s.ok()) {
    ::unlink(up.c_str());
    return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
  }
  // From here on, every exit removes both names (unless handed to the caller).
  struct Cleanup {
    const std::string& dir;
    const std::string& stem;
    bool keep = false;
    ~Cleanup() {
      if (!keep) UnlinkPair(dir, stem);
    }
  } cleanup{dir, stem};

  FifoPair pair;
  absl::StatusOr<UniqueFd> w = Open(up, O_RDWR | O_NONBLOCK);
  if (!w.ok()) return w.status();
  absl::StatusOr<UniqueFd> r = Open(down, O_RDONLY | O_NONBLOCK);
  if (!r.ok()) return r.status();
  // Our own write end of .down until the server opens it: a FIFO without writers reads
  // as end of stream. (Opening it cannot block: we are a reader.)
  absl::StatusOr<UniqueFd> hold = Open(down, O_WRONLY | O_NONBLOCK);
  if (!hold.ok()) return hold.status();
  absl::StatusOr<UniqueFd> req = Open(Join(dir, kFifoRequestsName), O_WRONLY | O_NONBLOCK);
  if (!req.ok()) {
    // ENOENT: no server ever (or it closed); ENXIO: the FIFO is left from a dead server.
    if (req.status().code() == absl::StatusCode::kPermissionDenied) return req.status();
    return absl::UnavailableError(absl::StrCat(where, ": nobody is listening (",
                                               req.status().message(), ")"));
  }
  const std::string line = absl::StrCat(kMagic, " ", pid, " ", stem, "\n");
  if (line.size() > kMaxAnnouncement) return absl::InternalError("announcement too long");
  for (;;) {
    absl::StatusOr<size_t> n = WriteNoSigpipe(req->get(), line);
    if (!n.ok()) return absl::UnavailableError(absl::StrCat(where, ": the server went away"));
    if (*n == line.size()) break;
    if (*n != 0) return absl::InternalError("short announcement write");
    // Full request FIFO (a busy server): wait for room; an announcement is written whole.
    if (absl::Status s = WaitFd(req->get(), POLLOUT, deadline); !s.ok()) return s;
  }
  if (!wait_for_accept) {
    if (absl::Status s = SetNonBlocking(r->get(), false); !s.ok()) return s;
    cleanup.keep = true;
    pair.read = *std::move(r);
    pair.write = *std::move(w);
    pair.hold = *std::move(hold);
    pair.requests = *std::move(req);
    pair.dir = dir;
    pair.stem = stem;
    return pair;
  }
  // Wait for the accept byte; POLLERR on the request FIFO means the server is gone.
  for (;;) {
    pollfd p[2] = {{r->get(), POLLIN, 0}, {req->get(), 0, 0}};
    int ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError(absl::StrCat(where, ": not accepted before the deadline"));
      }
      ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    }
    const int n = ::poll(p, 2, ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("poll", errno);
    if (p[0].revents & (POLLIN | POLLHUP)) {
      char c = 0;
      const ssize_t got = ::read(r->get(), &c, 1);
      if (got == 1 && c == kAccept) break;
      if (got < 0 && errno == EAGAIN) continue;
      return absl::UnavailableError(absl::StrCat(where, ": the server refused the connection"));
    }
    if (p[1].revents & (POLLERR | POLLHUP)) {
      return absl::UnavailableError(absl::StrCat(where, ": the server went away"));
    }
  }
  if (absl::Status s = SetNonBlocking(r->get(), false); !s.ok()) return s;
  pair.read = *std::move(r);
  pair.write = *std::move(w);
  return pair;
}

// ---- Server -----------------------------------------------------------------------------

struct FifoRendezvous::State {
  State(UniqueFd r, UniqueFd w)
      : req_r(std::move(r)), req_w(std::move(w)), gate([this] {
          req_r.reset();
          req_w.reset();
        }) {}
  UniqueFd req_r;
  UniqueFd req_w;
  CloseGate gate;
  std::atomic<bool> closed{false};
  std::mutex accept_mu;
  std::string buffer;  // guarded by accept_mu
  bool created_dir = false;
  dev_t dev = 0;
  ino_t ino = 0;
};

absl::StatusOr<std::unique_ptr<FifoRendezvous>> FifoRendezvous::Create(const std::string& dir) {
  bool created_dir = false;
  if (::mkdir(dir.c_str(), 0700) == 0) {
    created_dir = true;
  } else if (errno != EEXIST) {
    return ErrnoStatus(absl::StrCat("mkdir(", dir, ")"), errno);
  }
  auto fail = [&](absl::Status s) {
    if (created_dir) ::rmdir(dir.c_str());
    return s;
  };
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(absl::InvalidArgumentError(absl::StrCat("fifo:", dir, " is not a directory")));
  }
  SweepDeadClientFifos(dir);
  const std::string path = Join(dir, kFifoRequestsName);
  absl::Status made = MakeFifo(path);
  if (made.code() == absl::StatusCode::kAlreadyExists) {
    struct stat old;
    if (::lstat(path.c_str(), &old) != 0 || !S_ISFIFO(old.st_mode)) {
      return fail(absl::AlreadyExistsError(
          absl::StrCat(path, " exists and is not a FIFO; not replacing it")));
    }
    absl::StatusOr<UniqueFd> probe = Open(path, O_WRONLY | O_NONBLOCK);
    if (probe.ok()) {
      return fail(absl::AlreadyExistsError(
          absl::StrCat("fifo:", dir, " is in use by a live server; not replacing it")));
    }
    // ENXIO: nobody reads it, its server is dead: replace it.
    ::unlink(path.c_str());
    made = MakeFifo(path);
    if (made.code() == absl::StatusCode::kAlreadyExists) {
      return fail(absl::AlreadyExistsError(
          absl::StrCat("fifo:", dir, " was taken by another server while replacing a stale one")));
    }
  }
  if (!made.ok()) return fail(made);
  absl::StatusOr<UniqueFd> r = Open(path, O_RDONLY | O_NONBLOCK);
  absl::StatusOr<UniqueFd> w = r.ok() ? Open(path, O_WRONLY | O_NONBLOCK) : r.status();
  struct stat mine;
  if (!r.ok() || !w.ok() || ::fstat(r->get(), &mine) != 0) {
    ::unlink(path.c_str());
    return fail(!r.ok() ? r.status() : !w.ok() ? w.status() : ErrnoStatus("fstat", errno));
  }
  return std::unique_ptr<FifoRendezvous>(new FifoRendezvous(
      dir, created_dir, *std::move(r), *std::move(w), mine.st_dev, mine.st_ino));
}

FifoRendezvous::FifoRendezvous(std::string dir, bool created_dir, UniqueFd req_r, UniqueFd req_w,
                               dev_t dev, ino_t ino)
    : state_(std::make_unique<State>(std::move(req_r), std::move(req_w))), dir_(std::move(dir)) {
  state_->created_dir = created_dir;
  state_->dev = dev;
  state_->ino = ino;
}

FifoRendezvous::~FifoRendezvous() { Close(); }

void FifoRendezvous::Close() {
  const bool first = state_->gate.Close([&] {
    state_->closed.store(true, std::memory_order_release);
    // Wake Accept() (poll on the read end); we are a reader, so no SIGPIPE.
    (void)!::write(state_->req_w.get(), "\n", 1);
  });
  if (!first) return;
  const std::string path = Join(dir_, kFifoRequestsName);
  struct stat now;
  if (::lstat(path.c_str(), &now) == 0 && now.st_dev == state_->dev && now.st_ino == state_->ino) {
    ::unlink(path.c_str());
  }
  if (state_->created_dir) ::rmdir(dir_.c_str());  // only if empty
}

absl::StatusOr<FifoPair> FifoRendezvous::TryAccept(absl::string_view line) {
  std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  int pid = -1;
  if (parts.size() != 3 || parts[0] != kMagic || !absl::SimpleAtoi(parts[1], &pid) || pid <= 0 ||
      !ValidStem(parts[2], pid)) {
    return absl::InvalidArgumentError("malformed announcement");
  }
  const std::string stem(parts[2]);
  // Both opens are non-blocking: a client that died (or never opened its FIFOs) cannot
  // make us wait. Opening .up for reading always succeeds; opening .down for writing
  // fails with ENXIO unless the client holds its read end.
  absl::StatusOr<UniqueFd> up = Open(Join(dir_, stem + ".up"), O_RDONLY | O_NONBLOCK);
  absl::StatusOr<UniqueFd> down =
      up.ok() ? Open(Join(dir_, stem + ".down"), O_WRONLY | O_NONBLOCK) : up.status();
  UnlinkPair(dir_, stem);
  if (!up.ok() || !down.ok()) return !up.ok() ? up.status() : down.status();
  struct stat a, b;
  if (::fstat(up->get(), &a) != 0 || ::fstat(down->get(), &b) != 0 || !S_ISFIFO(a.st_mode) ||
      !S_ISFIFO(b.st_mode)) {
    return absl::InvalidArgumentError("announced names are not FIFOs");
  }
  absl::StatusOr<size_t> sent = WriteNoSigpipe(down->get(), absl::string_view(&kAccept, 1));
  if (!sent.ok()) return sent.status();
  if (*sent != 1) return absl::UnavailableError("cannot write the accept byte");
  if (absl::Status s = SetNonBlocking(up->get(), false); !s.ok()) return s;
  FifoPair pair;
  pair.read = *std::move(up);
  pair.write = *std::move(down);
  pair.peer_pid = pid;
  return pair;
}

absl::StatusOr<FifoPair> FifoRendezvous::Accept() {
  State& s = *state_;
  CloseGate::Call call(s.gate);
  if (!call.entered()) return absl::UnavailableError(absl::StrCat("fifo:", dir_, " closed"));
  std::lock_guard<std::mutex> lock(s.accept_mu);
  for (;;) {
    for (size_t nl; (nl = s.buffer.find('\n')) != std::string::npos;) {
      const std::string line = s.buffer.substr(0, nl);
      s.buffer.erase(0, nl + 1);
      if (s.closed.load(std::memory_order_acquire)) break;
      if (line.empty()) continue;
      absl::StatusOr<FifoPair> pair = TryAccept(line);
      if (pair.ok()) return pair;
      // A client that died or garbage: skip it, and tidy up after dead clients.
      SweepDeadClientFifos(dir_);
    }
    if (s.closed.load(std::memory_order_acquire)) {
      return absl::UnavailableError(absl::StrCat("fifo:", dir_, " closed"));
    }
    if (s.buffer.size() > kMaxLine) s.buffer.clear();  // no newline in sight: garbage
    if (absl::Status w = WaitFd(s.req_r.get(), POLLIN, absl::InfiniteFuture()); !w.ok()) return w;
    char chunk[4096];
    const ssize_t n = ::read(s.req_r.get(), chunk, sizeof(chunk));
    if (n > 0) s.buffer.append(chunk, static_cast<size_t>(n));
    if (n < 0 && errno != EAGAIN && errno != EINTR) return ErrnoStatus("read(requests)", errno);
  }
}

// ---- Transport --------------------------------------------------------------------------

namespace {

class FifoListener final : public Listener {
 public:
  FifoListener(std::unique_ptr<FifoRendezvous> rendezvous, ConnectionLimits limits)
      : rendezvous_(std::move(rendezvous)), limits_(limits) {}
  ~FifoListener() override { Close(); }

  absl::StatusOr<std::unique_ptr<Connection>> Accept() override {
    for (;;) {
      absl::StatusOr<FifoPair> pair = rendezvous_->Accept();
      if (!pair.ok()) return pair.status();
      absl::StatusOr<std::unique_ptr<Connection>> conn = NewPipeConnection(
          std::move(pair->read), std::move(pair->write),
          absl::StrCat(address(), " pid=", pair->peer_pid), limits_);
      if (conn.ok()) return conn;
      if (conn.status().code() == absl::StatusCode::kResourceExhausted) return conn.status();
      // Otherwise about this peer only: next.
    }
  }
  void Close() override { rendezvous_->Close(); }
  std::string address() const override { return absl::StrCat("fifo:", rendezvous_->dir()); }

 private:
  const std::unique_ptr<FifoRendezvous> rendezvous_;
  const ConnectionLimits limits_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Listener>> FifoTransport::Listen(const Address& address,
                                                                const ConnectionLimits& limits) {
  if (absl::Status s = CheckDirAddress(address); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<FifoRendezvous>> r = FifoRendezvous::Create(address.target);
  if (!r.ok()) return r.status();
  return std::unique_ptr<Listener>(std::make_unique<FifoListener>(*std::move(r), limits));
}

namespace {

// The client's stream before and after the accept byte (see the header): until it
// arrives, reads poll the request FIFO as well and the byte is stripped; afterwards
// every call goes straight to the pipe stream.
class FifoClientByteStream final : public ByteStream {
 public:
  FifoClientByteStream(std::unique_ptr<PipeByteStream> pipe, FifoPair pending)
      : pipe_(std::move(pipe)), pending_(std::move(pending)), hold_(pending_.hold.release()) {}
  ~FifoClientByteStream() override {
    DropHold();
    if (!accepted_) UnlinkPair(pending_.dir, pending_.stem);
  }

  absl::StatusOr<size_t> Read(char* buf, size_t n, absl::Time deadline) override {
    if (accepted_) return pipe_->Read(buf, n, deadline);
    for (;;) {
      // Wake-ups of Shutdown() arrive as data on the read fd, like the accept byte.
      pollfd p[2] = {{pipe_->read_fd(), POLLIN, 0}, {pending_.requests.get(), 0, 0}};
      int ms = -1;
      if (deadline != absl::InfiniteFuture()) {
        const absl::Duration left = deadline - absl::Now();
        ms = left <= absl::ZeroDuration() ? 0 : static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
      }
      const int r = ::poll(p, 2, ms);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus("poll", errno);
      if (r == 0) {
        if (absl::Now() >= deadline) return absl::DeadlineExceededError("deadline exceeded");
        continue;
      }
      if (p[0].revents != 0) {
        absl::StatusOr<size_t> got = pipe_->Read(buf, n, absl::InfinitePast());
        if (!got.ok() && got.status().code() == absl::StatusCode::kDeadlineExceeded) continue;
        if (!got.ok() || *got == 0) return got;
        if (buf[0] != kAccept) {
          return absl::InvalidArgumentError("fifo: the server did not start with the accept byte");
        }
        accepted_ = true;
        DropHold();  // from now on the server's write end decides end of stream
        pending_.requests.reset();
        UnlinkPair(pending_.dir, pending_.stem);  // the server did already; harmless
        if (*got > 1) {
          std::memmove(buf, buf + 1, *got - 1);
          return *got - 1;
        }
        return pipe_->Read(buf, n, deadline);
      }
      // POLLERR on the request FIFO: no reader any more, the server is gone.
      return absl::UnavailableError("fifo: the server went away before accepting");
    }
  }
  absl::StatusOr<size_t> WriteSome(const struct iovec* iov, int iovcnt) override {
    // A sender that never reads must still learn that the server is gone: once the
    // accept byte is waiting (so the server has opened .down), our own write end of .down
    // can go, and the server's hang-up becomes visible. One poll per write, only until
    // then.
    if (hold_.load(std::memory_order_acquire) >= 0) {
      pollfd p{pipe_->read_fd(), POLLIN, 0};
      if (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0) DropHold();
    }
    return pipe_->WriteSome(iov, iovcnt);
  }
  absl::Status WaitWritable(absl::Time deadline) override { return pipe_->WaitWritable(deadline); }
  void Shutdown() override { pipe_->Shutdown(); }

 private:
  // Closes our write end of .down once (reader or writer thread, whichever first). The fd
  // is never used for I/O, so closing it cannot race with a call on a reused number.
  void DropHold() {
    const int fd = hold_.exchange(-1, std::memory_order_acq_rel);
    if (fd >= 0) ::close(fd);
  }

  const std::unique_ptr<PipeByteStream> pipe_;
  FifoPair pending_;  // the reader owns `requests`; names are constant
  std::atomic<int> hold_;
  bool accepted_ = false;  // reader thread only
};

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> FifoTransport::Connect(const Address& address,
                                                                   const ConnectionLimits& limits,
                                                                   absl::Time deadline) {
  if (absl::Status s = CheckDirAddress(address); !s.ok()) return s;
  absl::StatusOr<FifoPair> pair =
      FifoConnectRaw(address.target, deadline, /*wait_for_accept=*/false);
  if (!pair.ok()) return pair.status();
  if (absl::Status s = SetNonBlocking(pair->write.get(), true); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<PipeByteStream>> pipe =
      PipeByteStream::Create(std::move(pair->read), std::move(pair->write));
  if (!pipe.ok()) return pipe.status();
  return std::unique_ptr<Connection>(StreamConnection::Create(
      std::make_unique<FifoClientByteStream>(*std::move(pipe), *std::move(pair)),
      absl::StrCat("fifo:", address.target, " server"), limits));
}

}  // namespace ferry
