#include "transports/pipe/stdio_transport.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/status.h"
#include "transports/pipe/pipe_stream.h"

namespace ferry {
namespace {

// fds 0 and 1 can be taken over once per process.
std::atomic<bool> g_stdio_taken{false};

bool IsFifo(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

// A private description of the pipe behind `fd` (see the header), else a dup.
absl::StatusOr<UniqueFd> TakeOver(int fd, int flags) {
  absl::StatusOr<UniqueFd> reopened = ReopenPipe(fd, flags);
  if (reopened.ok()) return reopened;
  absl::StatusOr<int> dup =
      Syscall("fcntl(F_DUPFD_CLOEXEC)", [&] { return ::fcntl(fd, F_DUPFD_CLOEXEC, 3); });
  if (!dup.ok()) return dup.status();
  return UniqueFd(*dup);
}

class StdioListener final : public Listener {
 public:
  explicit StdioListener(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}
  ~StdioListener() override { Close(); }

  absl::StatusOr<std::unique_ptr<Connection>> Accept() override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!closed_ && conn_ != nullptr) return std::move(conn_);
    cv_.wait(lock, [&] { return closed_; });
    return absl::UnavailableError("stdio:- listener closed");
  }

  void Close() override {
    std::unique_ptr<Connection> unaccepted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
      unaccepted = std::move(conn_);
    }
    cv_.notify_all();
    if (unaccepted != nullptr) unaccepted->Close();
  }

  std::string address() const override { return "stdio:-"; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  std::unique_ptr<Connection> conn_;
};

}  // namespace

absl::StatusOr<std::pair<UniqueFd, UniqueFd>> TakeOverStdio() {
  if (g_stdio_taken.exchange(true)) {
    return absl::AlreadyExistsError("stdio:- is already served in this process");
  }
  auto release = [](absl::Status s) {
    g_stdio_taken.store(false);
    return s;
  };
  if (!IsFifo(STDIN_FILENO) || !IsFifo(STDOUT_FILENO)) {
    return release(absl::FailedPreconditionError(
        "stdio:- needs stdin and stdout to be pipes (start this program through an exec: "
        "address)"));
  }
  absl::StatusOr<UniqueFd> in = TakeOver(STDIN_FILENO, O_RDONLY);
  if (!in.ok()) return release(in.status());
  absl::StatusOr<UniqueFd> out = TakeOver(STDOUT_FILENO, O_WRONLY | O_NONBLOCK);
  if (!out.ok()) return release(out.status());
  if (absl::Status s = SetNonBlocking(out->get(), true); !s.ok()) return release(s);

  // Nothing else may use the pipes now: stdin reads /dev/null, stdout writes to stderr.
  // (No fflush(stdout): text the program buffered before goes to stderr too.)
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::close(null);
  }
  if (::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    const int null_out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_out >= 0) {
      ::dup2(null_out, STDOUT_FILENO);
      ::close(null_out);
    }
  }
  return std::make_pair(*std::move(in), *std::move(out));
}

absl::StatusOr<std::unique_ptr<Listener>> StdioTransport::Listen(const Address& address,
                                                                 const ConnectionLimits& limits) {
  if (absl::Status s = address.CheckOptions({}); !s.ok()) return s;
  if (address.target != "-") {
    return absl::InvalidArgumentError(
        absl::StrCat("stdio: address \"", address.ToString(), "\": the only target is \"-\""));
  }
  absl::StatusOr<std::pair<UniqueFd, UniqueFd>> fds = TakeOverStdio();
  if (!fds.ok()) return fds.status();
  PipeByteStream::Options options;
  options.on_peer_gone = options_.on_peer_gone;
  if (!options.on_peer_gone) options.on_peer_gone = [] { ::kill(::getpid(), SIGTERM); };
  absl::StatusOr<std::unique_ptr<Connection>> conn =
      NewPipeConnection(std::move(fds->first), std::move(fds->second),
                        absl::StrCat("stdio:- ppid=", ::getppid()), limits, std::move(options));
  if (!conn.ok()) return conn.status();
  return std::unique_ptr<Listener>(std::make_unique<StdioListener>(*std::move(conn)));
}

absl::StatusOr<std::unique_ptr<Connection>> StdioTransport::Connect(const Address& address,
                                                                    const ConnectionLimits&,
                                                                    absl::Time) {
  return absl::InvalidArgumentError(
      absl::StrCat("cannot connect to ", address.ToString(),
                   ": stdio: is where a spawned server listens; clients use exec:<program>"));
}

}  // namespace ferry
