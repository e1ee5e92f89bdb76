#include "transports/pipe/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/status.h"
#include "transports/pipe/pipe_stream.h"

extern char** environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace ferry {
namespace {

// Our pipe ends are moved to fds at or above this before spawning, so the child's
// dup2(…, 0) and dup2(…, 1) can never overwrite the other source fd (a host with fd 0 or
// 1 closed would otherwise get pipe2() to hand those numbers out).
constexpr int kHighFd = 10;

absl::StatusOr<UniqueFd> DupHigh(int fd) {
  absl::StatusOr<int> r = Syscall("fcntl(F_DUPFD_CLOEXEC)",
                                  [&] { return ::fcntl(fd, F_DUPFD_CLOEXEC, kHighFd); });
  if (!r.ok()) return r.status();
  return UniqueFd(*r);
}

// RAII for the posix_spawn attribute objects.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

absl::StatusOr<SpawnedChild> SpawnWithPipes(const SpawnSpec& spec) {
  if (spec.program.empty()) return absl::InvalidArgumentError("no program to run");
  auto in = NewPipe();  // child reads first, we write second
  if (!in.ok()) return in.status();
  auto out = NewPipe();  // child writes second, we read first
  if (!out.ok()) return out.status();
  absl::StatusOr<UniqueFd> child_in = DupHigh(in->first.get());
  if (!child_in.ok()) return child_in.status();
  absl::StatusOr<UniqueFd> child_out = DupHigh(out->second.get());
  if (!child_out.ok()) return child_out.status();
  in->first.reset();
  out->second.reset();

  SpawnSetup setup;
  // dup2 onto 0 and 1 clears close-on-exec on the copies; everything from 3 up goes.
  posix_spawn_file_actions_adddup2(&setup.actions, child_in->get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, child_out->get(), STDOUT_FILENO);
  if (spec.stderr_to_null) {
    posix_spawn_file_actions_addopen(&setup.actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1);
  sigset_t none, pipe;
  sigemptyset(&none);
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setsigdefault(&setup.attr, &pipe);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(spec.program.c_str()));
  for (const std::string& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid = -1;
  const bool search = spec.program.find('/') == std::string::npos;
  const int rc = search ? ::posix_spawnp(&pid, spec.program.c_str(), &setup.actions, &setup.attr,
                                         argv.data(), environ)
                        : ::posix_spawn(&pid, spec.program.c_str(), &setup.actions, &setup.attr,
                                        argv.data(), environ);
  if (rc != 0) return ErrnoStatus(absl::StrCat("cannot run ", spec.program), rc);

  SpawnedChild child;
  child.pid = pid;
  const long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    const int err = errno;
    ::kill(pid, SIGKILL);
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return ErrnoStatus("pidfd_open", err);
  }
  // pidfd_open sets close-on-exec.
  child.pidfd.reset(static_cast<int>(pidfd));
  child.to_child = std::move(in->second);
  child.from_child = std::move(out->first);
  return child;
}

void SignalChild(int pidfd, int sig) { ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0); }

int ReapChild(int pidfd) {
  siginfo_t info{};
  for (;;) {
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) == 0) {
      break;
    }
    if (errno == EINTR) continue;
    return -1;  // ECHILD: reaped elsewhere (SIGCHLD ignored by the host)
  }
  switch (info.si_code) {
    case CLD_EXITED:
      return (info.si_status & 0xff) << 8;
    case CLD_KILLED:
      return info.si_status & 0x7f;
    case CLD_DUMPED:
      return (info.si_status & 0x7f) | 0x80;
    default:
      return 0;
  }
}

}  // namespace ferry
