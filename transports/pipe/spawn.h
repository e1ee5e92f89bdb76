// Spawning a program with a pair of pipes as its stdin/stdout: the process half of exec:.
//
// Internal to //transports. posix_spawn(3) (vfork-speed; no code runs in the child
// between fork and exec), with:
//   - the two pipe ends dup2'ed onto the child's fds `child_in` / `child_out` (0 and 1
//     by default), every other fd from 3 up closed in the child (closefrom), whatever its
//     close-on-exec flag: the child inherits nothing else of ours. fd 2 is inherited (or
//     /dev/null);
//   - an empty signal mask and SIGPIPE at its default action in the child, whatever the
//     parent's threads block or ignore;
//   - a pidfd (pidfd_open) for waiting and signalling without pid-reuse races.
// Our ends of the pipes are close-on-exec, so no other child spawned meanwhile (by any
// thread) inherits them.
#ifndef FERRY_TRANSPORTS_PIPE_SPAWN_H_
#define FERRY_TRANSPORTS_PIPE_SPAWN_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "transports/stream/fd.h"

namespace ferry {

struct SpawnSpec {
  // Run as given if it contains a '/', else looked up in PATH.
  std::string program;
  // argv[1..]; argv[0] is `program`.
  std::vector<std::string> args;
  // Route the child's stderr to /dev/null instead of ours.
  bool stderr_to_null = false;
};

struct SpawnedChild {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd to_child;    // write end of the child's stdin (blocking)
  UniqueFd from_child;  // read end of the child's stdout (blocking)
};

// Errors: the errno Status of posix_spawn (ENOENT -> UNAVAILABLE, EACCES ->
// PERMISSION_DENIED), RESOURCE_EXHAUSTED when out of fds or processes. On error no child
// is left running and no fd is left open.
absl::StatusOr<SpawnedChild> SpawnWithPipes(const SpawnSpec& spec);

// pidfd_send_signal(2). ESRCH (already reaped) is not an error.
void SignalChild(int pidfd, int sig);

// Reaps the child behind `pidfd` (blocking until it exits). Returns its wait status
// (as from waitpid), or -1 if someone else reaped it (a host that ignores SIGCHLD).
int ReapChild(int pidfd);

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_PIPE_SPAWN_H_
