// Test helper: runs a binary from the test's runfiles in a child process, waits for its
// first line of output ("listening on ...", "connected", ...), and kills it.
// Header-only; for shm_kill_test and shm_load_test.
#ifndef FERRY_TRANSPORTS_SHM_PEER_PROCESS_H_
#define FERRY_TRANSPORTS_SHM_PEER_PROCESS_H_

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "transports/shm/shm_segment.h"

extern char** environ;

namespace ferry::shm::testing {

// "<runfiles>/<workspace>/<path>". Tests get the runfiles from TEST_SRCDIR; `bazel run`
// (the benchmarks' diagnostics) runs a binary inside "<runfiles>/<workspace>" itself.
inline std::string RunfilesPath(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr && ::access(path.c_str(), X_OK) == 0) return "./" + path;
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "ferry", "/", path);
}

class PeerProcess {
 public:
  // Starts `binary` (a runfiles path) with `args`; waits up to 10 s for its first line.
  // The child's stdin is a pipe that stays open until Kill()/destruction (servers that
  // read stdin exit when it closes).
  static absl::StatusOr<PeerProcess> Start(const std::string& binary,
                                           std::vector<std::string> args) {
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) {
      return absl::InternalError("pipe2 failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    const std::string path = RunfilesPath(binary);
    args.insert(args.begin(), path);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    PeerProcess p;
    const int rc = posix_spawn(&p.pid_, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(in[0]);
    p.stdin_ = in[1];
    if (rc != 0) {
      ::close(out[0]);
      p.pid_ = -1;
      return absl::InternalError(absl::StrCat("cannot start ", path, ": error ", rc));
    }
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (p.line_.find('\n') == std::string::npos) {
      pollfd pfd{out[0], POLLIN, 0};
      const int left = static_cast<int>(absl::ToInt64Milliseconds(give_up - absl::Now()));
      if (left <= 0 || ::poll(&pfd, 1, left) <= 0) break;
      char buf[256];
      const ssize_t n = ::read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      p.line_.append(buf, static_cast<size_t>(n));
    }
    ::close(out[0]);
    if (p.line_.find('\n') == std::string::npos) {
      return absl::InternalError(
          absl::StrCat(path, " did not say it was ready: \"", p.line_, "\""));
    }
    p.line_.resize(p.line_.find('\n'));
    return p;
  }

  PeerProcess() = default;
  PeerProcess(PeerProcess&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), stdin_(std::exchange(o.stdin_, -1)), line_(o.line_) {}
  PeerProcess& operator=(PeerProcess&& o) noexcept {
    Kill();
    pid_ = std::exchange(o.pid_, -1);
    stdin_ = std::exchange(o.stdin_, -1);
    line_ = o.line_;
    return *this;
  }
  ~PeerProcess() { Kill(); }

  // The first line it printed, without the newline.
  const std::string& line() const { return line_; }
  pid_t pid() const { return pid_; }

  // SIGKILLs and reaps the child (if still there). Returns the time the kill took effect
  // for its peers: when the child was reaped, i.e. the kernel had torn it down and closed
  // its descriptors (nobody can notice a death earlier; under ASan, with its huge
  // mappings, the teardown alone has taken over a second).
  absl::Time Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    const absl::Time gone = absl::Now();
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
    return gone;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::string line_;
};

// Every Ferry object in the file system: POSIX shm names under /dev/shm and named
// fallback files of backing=file in /tmp.
inline std::vector<std::string> FerryObjectsNow() {
  std::vector<std::string> found;
  for (const char* dir : {"/dev/shm", "/tmp"}) {
    DIR* d = ::opendir(dir);
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d)) {
      if (absl::StartsWith(e->d_name, kShmNamePrefix)) {
        found.push_back(absl::StrCat(dir, "/", e->d_name));
      }
    }
    ::closedir(d);
  }
  return found;
}

// The Ferry objects that persist: listed twice, 200 ms apart. Other processes on the host
// (tests running in parallel) legitimately own a name for the microseconds between
// shm_open and shm_unlink; a leak stays.
inline std::vector<std::string> FerryObjects() {
  std::vector<std::string> first = FerryObjectsNow();
  if (first.empty()) return first;
  ::usleep(200'000);
  std::vector<std::string> second = FerryObjectsNow(), both;
  for (const std::string& f : first) {
    for (const std::string& s : second) {
      if (f == s) both.push_back(f);
    }
  }
  return both;
}

}  // namespace ferry::shm::testing

#endif  // FERRY_TRANSPORTS_SHM_PEER_PROCESS_H_
