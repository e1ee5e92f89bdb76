#include "tests/conformance/child_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace ferry::conformance {

std::string ConformanceServerPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "ferry",
                      "/tests/conformance/conformance_server");
}

absl::StatusOr<ChildServer> ChildServer::Start(const std::string& address) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  const std::string binary = ConformanceServerPath();
  const std::string flag = absl::StrCat("--address=", address);
  char* argv[] = {const_cast<char*>(binary.c_str()), const_cast<char*>(flag.c_str()), nullptr};
  pid_t pid;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return absl::InternalError(absl::StrCat("cannot start ", binary, ": error ", rc));
  }
  ChildServer child(pid, "");
  // Read until the "listening on <address>\n" line.
  std::string text;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (text.find('\n') == std::string::npos) {
    pollfd p{out[0], POLLIN, 0};
    const int left = static_cast<int>(absl::ToInt64Milliseconds(give_up - absl::Now()));
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    char buf[256];
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, n);
  }
  close(out[0]);
  const std::string prefix = "listening on ";
  if (!absl::StartsWith(text, prefix) || text.find('\n') == std::string::npos) {
    return absl::InternalError(absl::StrCat("server for ", address,
                                            " did not report its address; printed: \"", text,
                                            "\""));
  }
  child.address_ = text.substr(prefix.size(), text.find('\n') - prefix.size());
  return child;
}

ChildServer::ChildServer(ChildServer&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), address_(std::move(other.address_)) {}

ChildServer& ChildServer::operator=(ChildServer&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) Kill(SIGKILL);
    pid_ = std::exchange(other.pid_, -1);
    address_ = std::move(other.address_);
  }
  return *this;
}

ChildServer::~ChildServer() {
  if (pid_ > 0) Kill(SIGKILL);
}

int ChildServer::Kill(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

}  // namespace ferry::conformance
