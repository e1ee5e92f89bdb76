// Who owns a queue, and is it still alive: peer-process liveness and the registry of the
// queues this user created.
//
// PeerProcess: a pidfd (pidfd_open, Linux 5.3+) on the process at the other end, taken
// once; Alive() polls it without blocking, so a reused pid number can never be mistaken
// for the peer. Where pidfd_open is missing (ENOSYS) it falls back to kill(pid, 0) plus
// the process start time from /proc/<pid>/stat.
//
// Registry: POSIX queue names cannot be listed unless /dev/mqueue is mounted, and SysV
// queues have no names at all, so every queue Ferry creates is recorded as a small file in
// a private directory, /tmp/ferry-msgq-<euid> (mode 0700, owned by us; anything else there
// — a symlink, another owner, wider permissions — is refused). A record says which process
// owns the queue ("<pid> <start time> <extra>"); a server starting on a name removes the
// queues of that name whose owner is dead, and only those.
//
// Threading: PeerProcess::Alive() and the Registry functions are thread-safe.
#ifndef FERRY_TRANSPORTS_MSGQ_PROCESS_H_
#define FERRY_TRANSPORTS_MSGQ_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry::msgq {

// The start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), or 0
// if the process does not exist.
uint64_t ProcessStartTime(pid_t pid);

// True if `pid` exists and (when start_time != 0) started at `start_time`.
bool ProcessAlive(pid_t pid, uint64_t start_time);

class PeerProcess {
 public:
  PeerProcess() = default;
  // UNAVAILABLE if the process is already gone (or is another process by now).
  static absl::StatusOr<PeerProcess> Watch(pid_t pid, uint64_t start_time);
  PeerProcess(PeerProcess&& o) noexcept;
  PeerProcess& operator=(PeerProcess&& o) noexcept;
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;
  ~PeerProcess();

  bool Alive() const;
  pid_t pid() const { return pid_; }
  uint64_t start_time() const { return start_; }

 private:
  pid_t pid_ = 0;
  uint64_t start_ = 0;
  int pidfd_ = -1;
};

struct Record {
  pid_t pid = 0;
  uint64_t start_time = 0;
  std::string extra;  // one token: a queue id, a queue name...
};

// The private directory, created on first use. Honours $FERRY_MSGQ_DIR (for tests that
// need an isolated registry); otherwise /tmp/ferry-msgq-<euid>.
absl::StatusOr<std::string> RegistryDir();

// Creates `file` in the registry with O_EXCL: ALREADY_EXISTS if it is there.
absl::Status CreateRecord(absl::string_view file, const Record& r);
// NOT_FOUND if absent; INVALID_ARGUMENT if unreadable garbage.
absl::StatusOr<Record> ReadRecord(absl::string_view file);
void RemoveRecord(absl::string_view file);
// Names of records starting with `prefix`.
std::vector<std::string> ListRecords(absl::string_view prefix);

}  // namespace ferry::msgq

#endif  // FERRY_TRANSPORTS_MSGQ_PROCESS_H_
