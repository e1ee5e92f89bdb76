#include "transports/uds/uds_transport.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "runtime/status.h"
#include "transports/stream/byte_stream.h"
#include "transports/stream/socket_listener.h"
#include "transports/stream/stream_connection.h"

namespace ferry {
namespace {

static_assert(sizeof(sockaddr_un::sun_path) == kMaxUnixPathLength + 1,
              "kMaxUnixPathLength must match this platform's sun_path");

// How long Listen() waits for an existing socket file's owner to answer before deciding
// it is alive but busy. A live server's kernel accepts at once unless its backlog is full.
constexpr absl::Duration kStaleProbeTimeout = absl::Milliseconds(250);

absl::StatusOr<sockaddr_un> MakeSockaddr(absl::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("unix socket path is empty");
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("unix socket path contains a NUL byte");
  }
  if (path.size() > kMaxUnixPathLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path \"", path, "\" is ", path.size(),
                     " bytes; the limit is ", kMaxUnixPathLength,
                     " bytes (sockaddr_un::sun_path); use a shorter path"));
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  return sa;
}

absl::StatusOr<UniqueFd> NewSocket() {
  absl::StatusOr<int> fd =
      Syscall("socket(AF_UNIX)", [] { return ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); });
  if (!fd.ok()) return fd.status();
  return UniqueFd(*fd);
}

// "unix:/p pid=1 uid=2" from the peer's credentials (fixed at connect/listen time).
absl::StatusOr<std::string> DescribePeer(int fd, absl::string_view address) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return ErrnoStatus("getsockopt(SO_PEERCRED)", errno);
  }
  return absl::StrCat(address, " pid=", cred.pid, " uid=", cred.uid);
}

absl::Status Bind(int fd, const sockaddr_un& sa, absl::string_view path) {
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0) {
    return absl::OkStatus();
  }
  const int err = errno;
  const std::string what = absl::StrCat("bind(unix:", path, ")");
  if (err == ENOENT || err == ENOTDIR) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", std::strerror(err), " (does the directory exist?)"));
  }
  return ErrnoStatus(what, err);
}

// Called when bind() found `path` taken. Removes it if it is a socket nobody listens on;
// otherwise explains why not. There is a window between the probe and the unlink in which
// a new server could bind the name, only if two servers start on one path at once.
absl::Status RemoveIfStale(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();  // gone meanwhile: just bind again
    return ErrnoStatus(absl::StrCat("lstat(", path, ")"), errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::AlreadyExistsError(
        absl::StrCat("unix:", path, " exists and is not a socket; not replacing it"));
  }
  absl::StatusOr<UniqueFd> probe = ConnectUnixSocket(path, absl::Now() + kStaleProbeTimeout);
  if (probe.ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("unix:", path, " is in use by a live server; not replacing it"));
  }
  switch (probe.status().code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return absl::AlreadyExistsError(absl::StrCat(
          "unix:", path, " is in use by a live server (its backlog is full); not replacing it"));
    case absl::StatusCode::kUnavailable:  // refused: the owner is dead
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return ErrnoStatus(absl::StrCat("unlink(stale socket ", path, ")"), errno);
      }
      return absl::OkStatus();
    default:
      return absl::Status(probe.status().code(),
                          absl::StrCat("unix:", path, " exists and its owner cannot be probed: ",
                                       probe.status().message()));
  }
}

}  // namespace

absl::StatusOr<UniqueFd> ConnectUnixSocket(absl::string_view path, absl::Time deadline) {
  absl::StatusOr<sockaddr_un> sa = MakeSockaddr(path);
  if (!sa.ok()) return sa.status();
  absl::StatusOr<UniqueFd> fd = NewSocket();
  if (!fd.ok()) return fd.status();
  const std::string what = absl::StrCat("connect(unix:", path, ")");
  const absl::Time now = absl::Now();
  const bool expired = deadline <= now;
  if (expired) {
    // One try that cannot block.
    if (absl::Status s = SetNonBlocking(fd->get(), true); !s.ok()) return s;
  } else if (deadline != absl::InfiniteFuture()) {
    // AF_UNIX connect() waits for room in a full backlog for SO_SNDTIMEO, then fails with
    // EAGAIN; unlike TCP there is no completion to poll for. Round up: 0 means forever.
    timeval tv = absl::ToTimeval(std::max(deadline - now, absl::Microseconds(1)));
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;
    if (::setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
      return ErrnoStatus("setsockopt(SO_SNDTIMEO)", errno);
    }
  }
  for (;;) {
    if (::connect(fd->get(), reinterpret_cast<const sockaddr*>(&*sa), sizeof(*sa)) == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EISCONN) break;  // an interrupted attempt completed meanwhile
    if (err == EAGAIN || err == EINPROGRESS) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": deadline exceeded (the server's backlog is full)"));
    }
    return ErrnoStatus(what, err);
  }
  if (expired) {
    if (absl::Status s = SetNonBlocking(fd->get(), false); !s.ok()) return s;
  } else if (deadline != absl::InfiniteFuture()) {
    const timeval zero{};
    ::setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<Listener>> UdsTransport::Listen(const Address& address,
                                                               const ConnectionLimits& limits) {
  if (absl::Status s = address.CheckOptions({}); !s.ok()) return s;
  const std::string path = address.target;
  absl::StatusOr<sockaddr_un> sa = MakeSockaddr(path);
  if (!sa.ok()) return sa.status();
  absl::StatusOr<UniqueFd> fd = NewSocket();
  if (!fd.ok()) return fd.status();
  const mode_t mode = options_.socket_mode & 0777;
  // Linux creates the socket file with the socket inode's mode minus the umask, so setting
  // the mode here, before bind(), means the file is never more accessible than `mode`
  // (no chmod-after-bind window, and no process-wide umask() juggling).
  if (absl::Status s = Syscall("fchmod(socket)", [&] { return ::fchmod(fd->get(), mode); })
                           .status();
      !s.ok()) {
    return s;
  }
  absl::Status bound = Bind(fd->get(), *sa, path);
  if (bound.code() == absl::StatusCode::kAlreadyExists) {
    if (absl::Status s = RemoveIfStale(path); !s.ok()) return s;
    bound = Bind(fd->get(), *sa, path);
    if (bound.code() == absl::StatusCode::kAlreadyExists) {
      return absl::AlreadyExistsError(absl::StrCat(
          "unix:", path, " was taken by another server while replacing a stale socket"));
    }
  }
  if (!bound.ok()) return bound;

  // From here on the file is ours: remove it on any failure.
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    absl::Status s = ErrnoStatus(absl::StrCat("lstat(", path, ")"), errno);
    ::unlink(path.c_str());
    return s;
  }
  // Bits beyond `mode` mean the platform ignored the fchmod above and the file was open to
  // others for a moment: refuse rather than serve from a socket that may have been
  // connected to already.
  if ((st.st_mode & 07777 & ~mode) != 0) {
    ::unlink(path.c_str());
    return absl::InternalError(absl::StrFormat(
        "unix:%s was created with mode %04o, wider than %04o; refusing to listen on it", path,
        st.st_mode & 07777, mode));
  }
  // The umask may have removed bits the caller asked for (e.g. 0660 under umask 077):
  // restore exactly `mode`. This only adds bits the caller chose.
  if ((st.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0) {
    absl::Status s = ErrnoStatus(absl::StrCat("chmod(", path, ")"), errno);
    ::unlink(path.c_str());
    return s;
  }
  if (::listen(fd->get(), options_.backlog) != 0) {
    absl::Status s = ErrnoStatus(absl::StrCat("listen(unix:", path, ")"), errno);
    ::unlink(path.c_str());
    return s;
  }

  std::string name = absl::StrCat("unix:", path);
  auto wrap = [limits, name](UniqueFd peer) -> absl::StatusOr<std::unique_ptr<Connection>> {
    absl::StatusOr<std::string> who = DescribePeer(peer.get(), name);
    if (!who.ok()) return who.status();
    return std::unique_ptr<Connection>(StreamConnection::Create(
        std::make_unique<SocketByteStream>(std::move(peer)), *std::move(who), limits));
  };
  // Remove the file only if it is still the one we bound: a successor may have replaced
  // it (after deciding ours was stale), and its socket must survive our Close().
  auto remove = [path, dev = st.st_dev, ino = st.st_ino] {
    struct stat now;
    if (::lstat(path.c_str(), &now) == 0 && now.st_dev == dev && now.st_ino == ino) {
      ::unlink(path.c_str());
    }
  };
  return std::unique_ptr<Listener>(std::make_unique<SocketListener>(
      *std::move(fd), std::move(name), std::move(wrap), std::move(remove)));
}

absl::StatusOr<std::unique_ptr<Connection>> UdsTransport::Connect(const Address& address,
                                                                  const ConnectionLimits& limits,
                                                                  absl::Time deadline) {
  if (absl::Status s = address.CheckOptions({}); !s.ok()) return s;
  absl::StatusOr<UniqueFd> fd = ConnectUnixSocket(address.target, deadline);
  if (!fd.ok()) return fd.status();
  absl::StatusOr<std::string> who =
      DescribePeer(fd->get(), absl::StrCat("unix:", address.target));
  if (!who.ok()) return who.status();
  return std::unique_ptr<Connection>(StreamConnection::Create(
      std::make_unique<SocketByteStream>(*std::move(fd)), *std::move(who), limits));
}

}  // namespace ferry
