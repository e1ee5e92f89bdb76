#include "bench/child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace ferry::bench {
namespace {

// Waits up to `timeout` for `pid` to exit; returns its status or -1 if it did not.
int WaitFor(pid_t pid, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return 0;  // not our child any more: nothing to wait for
    if (absl::Now() >= give_up) return -1;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace

std::string ServingLine(Impl impl, const std::string& address) {
  return absl::StrCat("serving ", ImplName(impl), " on ", address);
}

absl::StatusOr<ServerChild> ServerChild::Start(const std::string& self, Impl impl,
                                               const std::string& address, int cpu) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  std::vector<std::string> args = {self, absl::StrCat("--serve=", address),
                                   absl::StrCat("--serve_impl=", ImplName(impl)),
                                   "--internal_child"};
  if (cpu >= 0) args.push_back(absl::StrCat("--internal_cpu=", cpu));
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  // The driver blocks SIGINT/SIGTERM for its signal thread; the child starts with none
  // blocked and blocks what it waits for itself.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid;
  const int rc = posix_spawn(&pid, self.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return absl::InternalError(absl::StrCat("cannot start ", self, ": error ", rc));
  }
  ServerChild child(pid, impl);
  std::string text;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (text.find('\n') == std::string::npos) {
    pollfd p{out[0], POLLIN, 0};
    const int left = static_cast<int>(absl::ToInt64Milliseconds(give_up - absl::Now()));
    if (left <= 0) break;
    const int ready = poll(&p, 1, left);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char buf[256];
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  const std::string prefix = ServingLine(impl, "");
  const size_t newline = text.find('\n');
  if (!absl::StartsWith(text, prefix) || newline == std::string::npos) {
    return absl::UnavailableError(absl::StrCat("the ", ImplName(impl), " server for ", address,
                                               " did not start; it printed \"", text, "\""));
  }
  child.address_ = text.substr(prefix.size(), newline - prefix.size());
  return child;
}

ServerChild::ServerChild(ServerChild&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      impl_(other.impl_),
      address_(std::move(other.address_)) {}

ServerChild& ServerChild::operator=(ServerChild&& other) noexcept {
  if (this != &other) {
    Stop();
    pid_ = std::exchange(other.pid_, -1);
    impl_ = other.impl_;
    address_ = std::move(other.address_);
  }
  return *this;
}

ServerChild::~ServerChild() { Stop(); }

int ServerChild::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = WaitFor(pid_, absl::Seconds(5));
  if (status == -1) {
    kill(pid_, SIGKILL);
    status = WaitFor(pid_, absl::Seconds(5));
  }
  pid_ = -1;
  return status;
}

}  // namespace ferry::bench
