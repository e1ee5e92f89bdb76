#include "transports/msgq/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/status.h"

namespace ferry::msgq {

uint64_t ProcessStartTime(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(paren + 2), ' ', absl::SkipEmpty());
  // After ")": field 3 (state) is index 0, so field 22 (starttime) is index 19.
  uint64_t start = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start)) return 0;
  return start;
}

bool ProcessAlive(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  if (start_time == 0) return true;
  const uint64_t now = ProcessStartTime(pid);
  // A zombie still has its /proc entry; one we cannot read (another pid namespace's /proc)
  // counts as alive rather than have its queues removed.
  return now == 0 ? true : now == start_time;
}

absl::StatusOr<PeerProcess> PeerProcess::Watch(pid_t pid, uint64_t start_time) {
  PeerProcess p;
  p.pid_ = pid;
  p.start_ = start_time;
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrCat("bad peer pid ", pid));
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    p.pidfd_ = static_cast<int>(fd);
    ::fcntl(p.pidfd_, F_SETFD, FD_CLOEXEC);
  } else if (errno == ESRCH) {
    return absl::UnavailableError(absl::StrCat("peer process ", pid, " is gone"));
  }
#endif
  // The pidfd pins whatever process has the number now: make sure it is the one recorded.
  if (!ProcessAlive(pid, start_time)) {
    return absl::UnavailableError(absl::StrCat("peer process ", pid, " is gone"));
  }
  return p;
}

PeerProcess::PeerProcess(PeerProcess&& o) noexcept
    : pid_(o.pid_), start_(o.start_), pidfd_(std::exchange(o.pidfd_, -1)) {}

PeerProcess& PeerProcess::operator=(PeerProcess&& o) noexcept {
  if (this != &o) {
    if (pidfd_ >= 0) ::close(pidfd_);
    pid_ = o.pid_;
    start_ = o.start_;
    pidfd_ = std::exchange(o.pidfd_, -1);
  }
  return *this;
}

PeerProcess::~PeerProcess() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool PeerProcess::Alive() const {
  if (pid_ <= 0) return false;
  if (pidfd_ >= 0) {
    // A pidfd becomes readable when the process exits.
    pollfd p{pidfd_, POLLIN, 0};
    const int r = ::poll(&p, 1, 0);
    return !(r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0);
  }
  return ProcessAlive(pid_, start_);
}

// ---- Registry ---------------------------------------------------------------------------

absl::StatusOr<std::string> RegistryDir() {
  const char* env = std::getenv("FERRY_MSGQ_DIR");
  const std::string dir = env != nullptr && env[0] == '/'
                              ? std::string(env)
                              : absl::StrCat("/tmp/ferry-msgq-", ::geteuid());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(absl::StrCat("mkdir(", dir, ")"), errno);
  }
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return ErrnoStatus(absl::StrCat("lstat(", dir, ")"), errno);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "queue registry ", dir, " is not a private directory of uid ", ::geteuid(),
        " (mode ", absl::Hex(st.st_mode & 07777), ", owner ", st.st_uid, "); remove it"));
  }
  return dir;
}

namespace {

absl::StatusOr<std::string> RecordPath(absl::string_view file) {
  absl::StatusOr<std::string> dir = RegistryDir();
  if (!dir.ok()) return dir.status();
  return absl::StrCat(*dir, "/", file);
}

}  // namespace

absl::Status CreateRecord(absl::string_view file, const Record& r) {
  absl::StatusOr<std::string> path = RecordPath(file);
  if (!path.ok()) return path.status();
  const int fd = ::open(path->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(absl::StrCat("create ", *path), errno);
  const std::string text = absl::StrCat(r.pid, " ", r.start_time, " ", r.extra, "\n");
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    ::unlink(path->c_str());
    return ErrnoStatus(absl::StrCat("write ", *path), n < 0 ? err : EIO);
  }
  return absl::OkStatus();
}

absl::StatusOr<Record> ReadRecord(absl::string_view file) {
  absl::StatusOr<std::string> path = RecordPath(file);
  if (!path.ok()) return path.status();
  const int fd = ::open(path->c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no record ", *path));
    return ErrnoStatus(absl::StrCat("open ", *path), errno);
  }
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return absl::InvalidArgumentError(absl::StrCat("empty record ", *path));
  std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(buf, static_cast<size_t>(n)), absl::ByAnyChar(" \n"),
                     absl::SkipEmpty());
  Record r;
  int64_t pid = 0;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &pid) ||
      !absl::SimpleAtoi(parts[1], &r.start_time) || pid <= 0 || pid > (1 << 30)) {
    return absl::InvalidArgumentError(absl::StrCat("malformed record ", *path));
  }
  r.pid = static_cast<pid_t>(pid);
  if (parts.size() > 2) r.extra = parts[2];
  return r;
}

void RemoveRecord(absl::string_view file) {
  absl::StatusOr<std::string> path = RecordPath(file);
  if (path.ok()) ::unlink(path->c_str());
}

std::vector<std::string> ListRecords(absl::string_view prefix) {
  std::vector<std::string> out;
  absl::StatusOr<std::string> dir = RegistryDir();
  if (!dir.ok()) return out;
  DIR* d = ::opendir(dir->c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (absl::StartsWith(e->d_name, prefix)) out.emplace_back(e->d_name);
  }
  ::closedir(d);
  return out;
}

}  // namespace ferry::msgq
