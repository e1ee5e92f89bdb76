#include "bench/raw_pipe_mechanism.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/status.h"
#include "transports/fifo/fifo_transport.h"
#include "transports/pipe/exec_transport.h"
#include "transports/pipe/pipe_stream.h"
#include "transports/pipe/spawn.h"
#include "transports/pipe/stdio_transport.h"

namespace ferry::bench {
namespace {

constexpr uint32_t kCpuRequestWord = 0xFFFFFFFF;
constexpr size_t kReadBuffer = 64 * 1024;

// One end: a read pipe (blocking) and a write pipe (non-blocking, guarded).
class PipeEndpoint : public RawEndpoint {
 public:
  PipeEndpoint(UniqueFd read, UniqueFd write, UniqueFd guard, std::function<void()> on_eof)
      : read_(std::move(read)),
        write_(std::move(write)),
        guard_(std::move(guard)),
        on_eof_(std::move(on_eof)),
        in_(kReadBuffer) {}

  // `write` must be non-blocking.
  static absl::StatusOr<std::unique_ptr<PipeEndpoint>> Create(UniqueFd read, UniqueFd write,
                                                             std::function<void()> on_eof = {}) {
    if (absl::Status s = SetNonBlocking(write.get(), true); !s.ok()) return s;
    absl::StatusOr<UniqueFd> guard = ReopenPipe(write.get(), O_RDONLY | O_NONBLOCK);
    if (!guard.ok()) return guard.status();
    return std::make_unique<PipeEndpoint>(std::move(read), std::move(write), *std::move(guard),
                                          std::move(on_eof));
  }

  absl::Status Send(RawKind kind, absl::string_view payload) override {
    const uint32_t word = kind == RawKind::kCpuRequest ? kCpuRequestWord
                                                       : static_cast<uint32_t>(payload.size());
    const uint32_t header = htonl(word);
    iovec iov[2] = {{const_cast<uint32_t*>(&header), sizeof(header)},
                    {const_cast<char*>(payload.data()), payload.size()}};
    int first = 0;
    const int count = payload.empty() ? 1 : 2;
    while (first < count) {
      if (shut_.load(std::memory_order_acquire)) return absl::UnavailableError("raw pipe closed");
      const ssize_t n = ::writev(write_.get(), iov + first, count - first);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
          return absl::UnavailableError(absl::StrCat("raw write: ", std::strerror(errno)));
        }
        // Full: wait for room, or for the peer's hang-up (our guard keeps the pipe alive).
        pollfd p[2] = {{write_.get(), POLLOUT, 0}, {read_.get(), 0, 0}};
        if (::poll(p, 2, -1) < 0 && errno != EINTR) return ErrnoStatus("poll", errno);
        if ((p[1].revents & (POLLHUP | POLLERR)) != 0 && (p[0].revents & POLLOUT) == 0) {
          return absl::UnavailableError("raw peer closed its end");
        }
        continue;
      }
      size_t left = static_cast<size_t>(n);
      while (first < count && left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      }
      if (first < count) {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<RawKind> Receive(std::string* payload) override {
    while (end_ - begin_ < 4) {
      if (absl::Status s = Fill(); !s.ok()) return s;
    }
    uint32_t header;
    std::memcpy(&header, in_.data() + begin_, 4);
    begin_ += 4;
    const uint32_t word = ntohl(header);
    if (word == kCpuRequestWord) {
      payload->clear();
      return RawKind::kCpuRequest;
    }
    if (word > kMaxPayload) {
      return absl::ResourceExhaustedError(
          absl::StrCat("raw message of ", word, " bytes is over the limit"));
    }
    if (payload->size() != word) payload->resize(word);
    size_t got = std::min<size_t>(word, end_ - begin_);
    std::memcpy(payload->data(), in_.data() + begin_, got);
    begin_ += got;
    while (got < word) {
      const ssize_t n = ::read(read_.get(), payload->data() + got, word - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || shut_.load(std::memory_order_acquire)) return ReadError(n);
      got += static_cast<size_t>(n);
    }
    return RawKind::kEcho;
  }

  // Wakes our Receive (a byte of our own into our input, as PipeByteStream does) and
  // drops our write end so the peer reads end of stream. The fd numbers stay valid.
  void Shutdown() override {
    if (shut_.exchange(true)) return;
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, write_.get());
      ::close(null);
    }
    absl::StatusOr<UniqueFd> w = ReopenPipe(read_.get(), O_WRONLY | O_NONBLOCK);
    if (w.ok()) (void)!::write(w->get(), "", 1);
  }

 private:
  absl::Status Fill() {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == in_.size()) {
      std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    while (true) {
      const ssize_t n = ::read(read_.get(), in_.data() + end_, in_.size() - end_);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || shut_.load(std::memory_order_acquire)) return ReadError(n);
      end_ += static_cast<size_t>(n);
      return absl::OkStatus();
    }
  }

  absl::Status ReadError(ssize_t n) {
    if (shut_.load(std::memory_order_acquire)) return absl::UnavailableError("raw pipe closed");
    if (n == 0) {
      if (on_eof_ && !eof_seen_.exchange(true)) on_eof_();
      return absl::UnavailableError("raw peer closed the pipe");
    }
    return absl::UnavailableError(absl::StrCat("raw read: ", std::strerror(errno)));
  }

  UniqueFd read_;
  UniqueFd write_;
  UniqueFd guard_;
  std::function<void()> on_eof_;
  std::atomic<bool> shut_{false};
  std::atomic<bool> eof_seen_{false};
  std::vector<char> in_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

// An exec: client end: also owns the child, which it stops and reaps on destruction.
class ChildEndpoint final : public RawEndpoint {
 public:
  ChildEndpoint(std::unique_ptr<PipeEndpoint> pipe, UniqueFd pidfd)
      : pipe_(std::move(pipe)), pidfd_(std::move(pidfd)) {}
  ~ChildEndpoint() override {
    pipe_->Shutdown();  // the child's stdin ends; a raw stdio server then exits
    pollfd p{pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) SignalChild(pidfd_.get(), SIGKILL);
    ReapChild(pidfd_.get());
  }
  absl::Status Send(RawKind kind, absl::string_view payload) override {
    return pipe_->Send(kind, payload);
  }
  absl::StatusOr<RawKind> Receive(std::string* payload) override { return pipe_->Receive(payload); }
  void Shutdown() override { pipe_->Shutdown(); }

 private:
  const std::unique_ptr<PipeEndpoint> pipe_;
  const UniqueFd pidfd_;
};

// stdio:-: the first Accept() returns the endpoint over fds 0/1; later ones wait for Close().
class StdioRawListener final : public RawListener {
 public:
  explicit StdioRawListener(std::unique_ptr<RawEndpoint> endpoint)
      : endpoint_(std::move(endpoint)) {}
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Accept() override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!closed_ && endpoint_ != nullptr) return std::move(endpoint_);
    cv_.wait(lock, [&] { return closed_; });
    return absl::UnavailableError("raw stdio listener closed");
  }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  std::string address() const override { return "stdio:-"; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  std::unique_ptr<RawEndpoint> endpoint_;
};

class FifoRawListener final : public RawListener {
 public:
  explicit FifoRawListener(std::unique_ptr<FifoRendezvous> r) : r_(std::move(r)) {}
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Accept() override {
    for (;;) {
      absl::StatusOr<FifoPair> pair = r_->Accept();
      if (!pair.ok()) return pair.status();
      auto e = PipeEndpoint::Create(std::move(pair->read), std::move(pair->write));
      if (e.ok()) return std::unique_ptr<RawEndpoint>(*std::move(e));
    }
  }
  void Close() override { r_->Close(); }
  std::string address() const override { return absl::StrCat("fifo:", r_->dir()); }

 private:
  const std::unique_ptr<FifoRendezvous> r_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RawListener>> PipeRawMechanism::Listen(
    const Address& address) const {
  if (address.scheme != "stdio" || address.target != "-") {
    return absl::InvalidArgumentError(
        absl::StrCat("raw pipe peers listen on stdio:- only, not ", address.ToString()));
  }
  absl::StatusOr<std::pair<UniqueFd, UniqueFd>> fds = TakeOverStdio();
  if (!fds.ok()) return fds.status();
  // As StdioTransport: the parent closing our stdin ends this process (SIGTERM, which the
  // serving process waits for).
  auto endpoint = PipeEndpoint::Create(std::move(fds->first), std::move(fds->second),
                                       [] { ::kill(::getpid(), SIGTERM); });
  if (!endpoint.ok()) return endpoint.status();
  return std::unique_ptr<RawListener>(std::make_unique<StdioRawListener>(*std::move(endpoint)));
}

absl::StatusOr<std::unique_ptr<RawEndpoint>> PipeRawMechanism::Connect(const Address& address,
                                                                       absl::Time) const {
  absl::StatusOr<SpawnSpec> spec = ParseExecAddress(address);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<SpawnedChild> child = SpawnWithPipes(*spec);
  if (!child.ok()) return child.status();
  auto pipe = PipeEndpoint::Create(std::move(child->from_child), std::move(child->to_child));
  if (!pipe.ok()) {
    SignalChild(child->pidfd.get(), SIGKILL);
    ReapChild(child->pidfd.get());
    return pipe.status();
  }
  return std::unique_ptr<RawEndpoint>(
      std::make_unique<ChildEndpoint>(*std::move(pipe), std::move(child->pidfd)));
}

absl::StatusOr<std::unique_ptr<RawListener>> FifoRawMechanism::Listen(
    const Address& address) const {
  absl::StatusOr<std::unique_ptr<FifoRendezvous>> r = FifoRendezvous::Create(address.target);
  if (!r.ok()) return r.status();
  return std::unique_ptr<RawListener>(std::make_unique<FifoRawListener>(*std::move(r)));
}

absl::StatusOr<std::unique_ptr<RawEndpoint>> FifoRawMechanism::Connect(const Address& address,
                                                                       absl::Time deadline) const {
  absl::StatusOr<FifoPair> pair = FifoConnectRaw(address.target, deadline, /*wait=*/true);
  if (!pair.ok()) return pair.status();
  auto e = PipeEndpoint::Create(std::move(pair->read), std::move(pair->write));
  if (!e.ok()) return e.status();
  return std::unique_ptr<RawEndpoint>(*std::move(e));
}

absl::StatusOr<CpuTimes> SpawnedServersCpu() {
  const long ticks = ::sysconf(_SC_CLK_TCK);
  CpuTimes total;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return ErrnoStatus("opendir(/proc)", errno);
  const pid_t self = ::getpid();
  while (dirent* e = ::readdir(d)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    // After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime stime.
    char state = 0;
    int ppid = 0;
    unsigned long long utime = 0, stime = 0;
    if (std::sscanf(stat.c_str() + close + 1,
                    " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &ppid,
                    &utime, &stime) != 4) {
      continue;
    }
    if (ppid != self) continue;
    total.user_s += static_cast<double>(utime) / static_cast<double>(ticks);
    total.system_s += static_cast<double>(stime) / static_cast<double>(ticks);
  }
  ::closedir(d);
  return total;
}

}  // namespace ferry::bench
