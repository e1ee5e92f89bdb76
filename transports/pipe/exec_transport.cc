#include "transports/pipe/exec_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/status.h"
#include "transports/pipe/pipe_stream.h"
#include "transports/stream/stream_connection.h"

namespace ferry {
namespace {

// Waits up to `timeout` (negative: forever) for the pidfd to report the child's exit.
bool WaitExit(int pidfd, absl::Duration timeout) {
  const absl::Time deadline =
      timeout < absl::ZeroDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  for (;;) {
    pollfd p{pidfd, POLLIN, 0};
    int ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    }
    const int r = ::poll(&p, 1, ms);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// The ByteStream of one exec: connection: the pipes, plus the child and its watcher.
class ExecByteStream final : public ByteStream {
 public:
  ExecByteStream(std::unique_ptr<PipeByteStream> pipe, SpawnedChild child, UniqueFd stop,
                 const ExecTransport::Options& options)
      : pipe_(std::move(pipe)),
        pidfd_(std::move(child.pidfd)),
        stop_(std::move(stop)),
        options_(options) {
    watcher_ = std::thread([this] { Watch(); });
  }

  // Runs after Shutdown() (StreamConnection's release): waits for the watcher, which
  // reaps the child (escalating to signals if needed). Then the pipes close.
  ~ExecByteStream() override {
    Stop();
    watcher_.join();
  }

  absl::StatusOr<size_t> Read(char* buf, size_t n, absl::Time deadline) override {
    return pipe_->Read(buf, n, deadline);
  }
  absl::StatusOr<size_t> WriteSome(const struct iovec* iov, int iovcnt) override {
    // A dead child's stdin may still take bytes (the pipe buffer; the guard reader keeps
    // its read end open), and the call would then fail only when its reply never comes,
    // as a connection lost after the request. Failing the write instead lets the runtime
    // retry the call on a new connection (a new child): nothing reached a live server.
    if (exited_.load(std::memory_order_acquire)) {
      return absl::UnavailableError("the server process has exited");
    }
    return pipe_->WriteSome(iov, iovcnt);
  }
  absl::Status WaitWritable(absl::Time deadline) override {
    return pipe_->WaitWritable(deadline);
  }
  void Shutdown() override {
    pipe_->Shutdown();  // the child's stdin reaches end of stream
    Stop();
  }

 private:
  void Stop() {
    const uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
  }

  void Watch() {
    pollfd p[2] = {{pidfd_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    while (::poll(p, 2, -1) < 0 && errno == EINTR) {
    }
    if ((p[0].revents & POLLIN) == 0) {
      // Closing: give the child the chance to exit on its own, then insist.
      if (!WaitExit(pidfd_.get(), options_.term_after)) {
        SignalChild(pidfd_.get(), SIGTERM);
        if (!WaitExit(pidfd_.get(), options_.kill_after)) {
          SignalChild(pidfd_.get(), SIGKILL);
          WaitExit(pidfd_.get(), absl::InfiniteDuration());
        }
      }
      ReapChild(pidfd_.get());
      return;
    }
    // The child exited while the connection was open. Its exit closed its stdout, and
    // the reader drains what it wrote and then sees end of stream -- unless something
    // else (a grandchild) still holds that pipe: then end the connection here. Writes
    // fail from now on, before the child is reaped (whoever waits for the reaping then
    // finds them failing).
    exited_.store(true, std::memory_order_release);
    ReapChild(pidfd_.get());
    pollfd out{pipe_->read_fd(), 0, 0};
    const bool hung_up = ::poll(&out, 1, 0) == 1 && (out.revents & (POLLHUP | POLLERR)) != 0;
    if (!hung_up) pipe_->Shutdown();
  }

  const std::unique_ptr<PipeByteStream> pipe_;
  const UniqueFd pidfd_;
  const UniqueFd stop_;
  const ExecTransport::Options options_;
  std::atomic<bool> exited_{false};  // the watcher saw the child exit
  std::thread watcher_;
};

}  // namespace

absl::StatusOr<std::string> PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (i + 2 >= s.size()) {
      return absl::InvalidArgumentError(absl::StrCat("truncated %-escape in \"", s, "\""));
    }
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad %-escape in \"", s, "\""));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

absl::StatusOr<SpawnSpec> ParseExecAddress(const Address& address) {
  if (absl::Status s = address.CheckOptions({"arg", "stderr"}); !s.ok()) return s;
  SpawnSpec spec;
  absl::StatusOr<std::string> program = PercentDecode(address.target);
  if (!program.ok()) return program.status();
  spec.program = *std::move(program);
  // "exec:///abs" parses to target "/abs"; "exec://abs" means "/abs" too.
  if (address.slashes && spec.program[0] != '/') spec.program.insert(0, "/");
  if (spec.program.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("exec: program path contains a NUL byte");
  }
  for (const auto& [key, value] : address.options) {
    if (key == "arg") {
      absl::StatusOr<std::string> arg = PercentDecode(value);
      if (!arg.ok()) return arg.status();
      if (arg->find('\0') != std::string::npos) {
        return absl::InvalidArgumentError("exec: argument contains a NUL byte");
      }
      spec.args.push_back(*std::move(arg));
    } else if (key == "stderr") {
      if (value == "null") {
        spec.stderr_to_null = true;
      } else if (value != "inherit") {
        return absl::InvalidArgumentError(
            absl::StrCat("exec: stderr=", value, " (expected inherit or null)"));
      }
    }
  }
  return spec;
}

absl::StatusOr<std::unique_ptr<Listener>> ExecTransport::Listen(const Address& address,
                                                                const ConnectionLimits&) {
  return absl::InvalidArgumentError(absl::StrCat(
      "cannot listen on ", address.ToString(),
      ": exec: addresses are for clients (they spawn the server); the server listens on stdio:-"));
}

absl::StatusOr<std::unique_ptr<Connection>> ExecTransport::Connect(const Address& address,
                                                                   const ConnectionLimits& limits,
                                                                   absl::Time deadline) {
  absl::StatusOr<SpawnSpec> spec = ParseExecAddress(address);
  if (!spec.ok()) return spec.status();
  if (deadline <= absl::Now()) {
    return absl::DeadlineExceededError(absl::StrCat("connect(", address.ToString(),
                                                    "): deadline exceeded before spawning"));
  }
  absl::StatusOr<int> stop =
      Syscall("eventfd", [] { return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (!stop.ok()) return stop.status();
  UniqueFd stop_fd(*stop);
  absl::StatusOr<SpawnedChild> child = SpawnWithPipes(*spec);
  if (!child.ok()) {
    return absl::Status(child.status().code(),
                        absl::StrCat(address.ToString(), ": ", child.status().message()));
  }
  auto fail = [&](absl::Status s) {
    SignalChild(child->pidfd.get(), SIGKILL);
    ReapChild(child->pidfd.get());
    return s;
  };
  if (absl::Status s = SetNonBlocking(child->to_child.get(), true); !s.ok()) return fail(s);
  absl::StatusOr<std::unique_ptr<PipeByteStream>> pipe =
      PipeByteStream::Create(std::move(child->from_child), std::move(child->to_child));
  if (!pipe.ok()) return fail(pipe.status());
  std::string who = absl::StrCat("exec:", spec->program, " pid=", child->pid);
  auto stream = std::make_unique<ExecByteStream>(*std::move(pipe), *std::move(child),
                                                 std::move(stop_fd), options_);
  return std::unique_ptr<Connection>(
      StreamConnection::Create(std::move(stream), std::move(who), limits));
}

}  // namespace ferry
