#include "transports/pipe/pipe_stream.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/status.h"
#include "transports/stream/stream_connection.h"

namespace ferry {
namespace {

// Every how many writes WriteSome() checks, with one ppoll, whether the peer hung up.
// Guarded writes never fail when the peer is gone (our guard reader keeps the pipe
// open), so without this a sender that never reads would only learn it once the pipe
// is full. The runtime always reads, and sees end of stream first.
constexpr unsigned kHangupProbeEvery = 64;

absl::Status CheckFifo(int fd, absl::string_view what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(absl::StrCat("fstat(", what, ")"), errno);
  if (!S_ISFIFO(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " (fd ", fd, ") is not a pipe or FIFO"));
  }
  return absl::OkStatus();
}

// ppoll on `fds` until one reports or `deadline`; DEADLINE_EXCEEDED after it.
absl::Status PollUntil(pollfd* fds, nfds_t n, absl::Time deadline) {
  for (;;) {
    timespec ts;
    timespec* timeout = nullptr;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
      ts = absl::ToTimespec(left);
      timeout = &ts;
    }
    const int r = ::ppoll(fds, n, timeout, nullptr);
    if (r > 0) return absl::OkStatus();
    if (r == 0) {
      if (absl::Now() >= deadline) return absl::DeadlineExceededError("deadline exceeded");
      continue;
    }
    if (errno == EINTR) continue;
    return ErrnoStatus("ppoll", errno);
  }
}

// Blocks SIGPIPE in this thread for the lifetime of the object; consumes a SIGPIPE the
// guarded write raised (so it is never delivered once the old mask is restored).
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedSigpipeBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  // Call after a write failed with EPIPE. If the host had a SIGPIPE of its own pending
  // and blocked, this consumes that one instead: standard signals do not queue.
  void Consume() {
    const timespec zero{};
    while (::sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }

 private:
  sigset_t pipe_;
  sigset_t old_;
};

}  // namespace

absl::StatusOr<UniqueFd> ReopenPipe(int fd, int flags) {
  const std::string path = absl::StrCat("/proc/self/fd/", fd);
  absl::StatusOr<int> r =
      Syscall(absl::StrCat("open(", path, ")"), [&] { return ::open(path.c_str(), flags | O_CLOEXEC); });
  if (!r.ok()) return r.status();
  return UniqueFd(*r);
}

absl::StatusOr<size_t> WriteNoSigpipe(int fd, absl::string_view bytes) {
  ScopedSigpipeBlock block;
  for (;;) {
    const ssize_t r = ::write(fd, bytes.data(), bytes.size());
    if (r >= 0) return static_cast<size_t>(r);
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EPIPE) {
      block.Consume();
      return absl::UnavailableError("write(pipe): the reader is gone (EPIPE)");
    }
    if (err == EAGAIN) return size_t{0};
    return ErrnoStatus("write(pipe)", err);
  }
}

absl::StatusOr<std::unique_ptr<PipeByteStream>> PipeByteStream::Create(UniqueFd read_fd,
                                                                       UniqueFd write_fd,
                                                                       Options options) {
  if (absl::Status s = CheckFifo(read_fd.get(), "read end"); !s.ok()) return s;
  if (absl::Status s = CheckFifo(write_fd.get(), "write end"); !s.ok()) return s;
  absl::StatusOr<int> wake =
      Syscall("eventfd", [] { return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (!wake.ok()) return wake.status();
  UniqueFd wake_fd(*wake);
  UniqueFd guard;
  if (!options.force_sigmask_writes) {
    absl::StatusOr<UniqueFd> g = ReopenPipe(write_fd.get(), O_RDONLY | O_NONBLOCK);
    if (g.ok()) guard = *std::move(g);
  }
  bool wake_by_write = false;
  if (!options.force_poll_reads) {
    // Probe only: a write end kept open would hide the peer's end of stream.
    wake_by_write = ReopenPipe(read_fd.get(), O_WRONLY | O_NONBLOCK).ok();
  }
  return std::unique_ptr<PipeByteStream>(
      new PipeByteStream(std::move(read_fd), std::move(write_fd), std::move(guard),
                         std::move(wake_fd), wake_by_write, std::move(options)));
}

PipeByteStream::PipeByteStream(UniqueFd read_fd, UniqueFd write_fd, UniqueFd guard,
                               UniqueFd wake, bool wake_by_write, Options options)
    : read_fd_(std::move(read_fd)),
      write_fd_(std::move(write_fd)),
      guard_(std::move(guard)),
      wake_(std::move(wake)),
      wake_by_write_(wake_by_write),
      options_(std::move(options)) {}

void PipeByteStream::NotePeerGone() {
  if (shut_.load(std::memory_order_acquire)) return;
  if (peer_gone_.exchange(true, std::memory_order_acq_rel)) return;
  if (options_.on_peer_gone) options_.on_peer_gone();
}

bool PipeByteStream::PeerHungUp() const {
  pollfd p{read_fd_.get(), 0, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

ssize_t PipeByteStream::ReadNow(char* buf, size_t n) {
  if (!nowait_unsupported_.load(std::memory_order_relaxed)) {
    iovec iov{buf, n};
    const ssize_t r = ::preadv2(read_fd_.get(), &iov, 1, -1, RWF_NOWAIT);
    if (r >= 0 || (errno != EOPNOTSUPP && errno != EINVAL)) return r;
    nowait_unsupported_.store(true, std::memory_order_relaxed);
  }
  // Kernels without RWF_NOWAIT for pipes: only read what is there (we are the only
  // reader, so it stays there), and tell an empty pipe from end of stream with poll.
  int avail = 0;
  if (::ioctl(read_fd_.get(), FIONREAD, &avail) != 0) return -1;
  if (avail > 0) return ::read(read_fd_.get(), buf, std::min(n, static_cast<size_t>(avail)));
  pollfd p{read_fd_.get(), POLLIN, 0};
  if (::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0 && (p.revents & POLLIN) == 0) {
    return 0;
  }
  errno = EAGAIN;
  return -1;
}

absl::StatusOr<size_t> PipeByteStream::Read(char* buf, size_t n, absl::Time deadline) {
  if (shut_.load(std::memory_order_acquire)) return size_t{0};
  if (deadline == absl::InfiniteFuture() && wake_by_write_) {
    // The hot path: one blocking read(2). Shutdown() wakes it with a byte of its own.
    for (;;) {
      const ssize_t r = ::read(read_fd_.get(), buf, n);
      if (shut_.load(std::memory_order_acquire)) return size_t{0};
      if (r > 0) return static_cast<size_t>(r);
      if (r == 0) {
        NotePeerGone();
        return size_t{0};
      }
      if (errno == EINTR) continue;
      return ErrnoStatus("read(pipe)", errno);
    }
  }
  for (;;) {
    const ssize_t r = ReadNow(buf, n);
    if (shut_.load(std::memory_order_acquire)) return size_t{0};
    if (r > 0) return static_cast<size_t>(r);
    if (r == 0) {
      NotePeerGone();
      return size_t{0};
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return ErrnoStatus("read(pipe)", errno);
    pollfd p[2] = {{read_fd_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    absl::Status waited = PollUntil(p, 2, deadline);
    if (shut_.load(std::memory_order_acquire)) return size_t{0};
    if (!waited.ok()) return waited;
  }
}

absl::StatusOr<size_t> PipeByteStream::WriteMasked(const struct iovec* iov, int iovcnt) {
  ScopedSigpipeBlock block;
  for (;;) {
    const ssize_t r = ::writev(write_fd_.get(), iov, iovcnt);
    if (r >= 0) return static_cast<size_t>(r);
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) return size_t{0};
    if (err == EPIPE) {
      block.Consume();
      NotePeerGone();
      return absl::UnavailableError("write(pipe): the peer closed its end (EPIPE)");
    }
    if (shut_.load(std::memory_order_acquire)) return absl::UnavailableError("pipe closed");
    return ErrnoStatus("write(pipe)", err);
  }
}

absl::StatusOr<size_t> PipeByteStream::WriteSome(const struct iovec* iov, int iovcnt) {
  if (shut_.load(std::memory_order_acquire)) return absl::UnavailableError("pipe closed");
  if (!guard_.valid()) return WriteMasked(iov, iovcnt);
  if (++write_count_ % kHangupProbeEvery == 0 && PeerHungUp()) {
    NotePeerGone();
    return absl::UnavailableError("the peer closed its end of the pipe");
  }
  for (;;) {
    const ssize_t r = ::writev(write_fd_.get(), iov, iovcnt);
    if (r >= 0) return static_cast<size_t>(r);
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {
      // Full. If the peer is gone it never will drain: say so instead of waiting.
      if (PeerHungUp()) {
        NotePeerGone();
        return absl::UnavailableError("the peer closed its end of the pipe");
      }
      return size_t{0};
    }
    if (shut_.load(std::memory_order_acquire)) return absl::UnavailableError("pipe closed");
    return ErrnoStatus("write(pipe)", err);
  }
}

absl::Status PipeByteStream::WaitWritable(absl::Time deadline) {
  if (shut_.load(std::memory_order_acquire)) return absl::OkStatus();
  // The read fd with no events reports POLLHUP when the peer's write end closes.
  pollfd p[3] = {{write_fd_.get(), POLLOUT, 0}, {read_fd_.get(), 0, 0}, {wake_.get(), POLLIN, 0}};
  return PollUntil(p, 3, deadline);
}

void PipeByteStream::Shutdown() {
  if (shut_.exchange(true, std::memory_order_acq_rel)) return;
  // 1. Drop our write end so the peer sees end of stream; the number stays valid (it now
  //    names the eventfd) until the CloseGate closes it.
  ::dup2(wake_.get(), write_fd_.get());
  // 2. Wake ppoll waiters (finite-deadline reads, WaitWritable).
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
  // 3. Wake a read(2) blocked with an infinite deadline: a byte of our own into our input.
  //    We are a reader of that pipe, so this write cannot raise SIGPIPE. If the pipe is
  //    full the reader is not blocked and sees shut_ when its read returns.
  if (wake_by_write_) {
    absl::StatusOr<UniqueFd> w = ReopenPipe(read_fd_.get(), O_WRONLY | O_NONBLOCK);
    if (w.ok()) (void)!::write(w->get(), "", 1);
  }
}

absl::StatusOr<std::pair<UniqueFd, UniqueFd>> NewPipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  return std::make_pair(UniqueFd(p[0]), UniqueFd(p[1]));
}

absl::StatusOr<std::unique_ptr<Connection>> NewPipeConnection(
    UniqueFd read_fd, UniqueFd write_fd, std::string peer_description,
    const ConnectionLimits& limits, PipeByteStream::Options options) {
  if (absl::Status s = SetNonBlocking(write_fd.get(), true); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<PipeByteStream>> stream =
      PipeByteStream::Create(std::move(read_fd), std::move(write_fd), std::move(options));
  if (!stream.ok()) return stream.status();
  return std::unique_ptr<Connection>(
      StreamConnection::Create(*std::move(stream), std::move(peer_description), limits));
}

}  // namespace ferry
