#include "transports/shm/shm_setup.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "runtime/status.h"

namespace ferry::shm {
namespace {

constexpr char kHelloMagic[8] = {'F', 'E', 'R', 'R', 'Y', 'S', 'H', 'M'};
constexpr char kRefusal[] = "FERRYNAK ";
constexpr size_t kMaxNameLength = 64;
constexpr int kMaxFds = 5;  // the segment and four eventfds

// The client's proposal. Host byte order: both ends run on this host.
struct HelloWire {
  char magic[8];
  uint32_t version;
  uint8_t backing;
  uint8_t wake;
  uint16_t fd_count;
  uint64_t ring_capacity;
  int64_t spin_ns;
  int32_t signo;
  uint32_t reserved;
};

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// "\0ferry-shm/<name>" and its length (abstract names are not NUL-terminated).
std::pair<sockaddr_un, socklen_t> RendezvousAddress(absl::string_view name) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string path = absl::StrCat("ferry-shm/", name);
  std::memcpy(sa.sun_path + 1, path.data(), path.size());
  return {sa, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + path.size())};
}

absl::StatusOr<UniqueFd> NewSeqpacketSocket() {
  absl::StatusOr<int> fd = Syscall("socket(AF_UNIX, SOCK_SEQPACKET)", [] {
    return ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  });
  if (!fd.ok()) return fd.status();
  return UniqueFd(*fd);
}

absl::StatusOr<ucred> PeerCredentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return ErrnoStatus("getsockopt(SO_PEERCRED)", errno);
  }
  return cred;
}

bool UidAllowed(uid_t uid, const std::vector<uid_t>& allowed) {
  return uid == ::getuid() || std::find(allowed.begin(), allowed.end(), uid) != allowed.end();
}

std::string Describe(absl::string_view name, const ucred& peer, Backing backing, WakeMode wake,
                     uint64_t ring) {
  return absl::StrCat("shm://", name, " pid=", peer.pid, " uid=", peer.uid,
                      " backing=", BackingName(backing), " wake=", WakeModeName(wake),
                      " ring=", ring);
}

absl::StatusOr<uint64_t> ParseSize(absl::string_view text) {
  uint64_t scale = 1;
  if (!text.empty()) {
    const char last = absl::ascii_tolower(static_cast<unsigned char>(text.back()));
    if (last == 'k') scale = uint64_t{1} << 10;
    if (last == 'm') scale = uint64_t{1} << 20;
    if (last == 'g') scale = uint64_t{1} << 30;
    if (scale != 1) text.remove_suffix(1);
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(text, &n) || n > (uint64_t{1} << 40)) {
    return absl::InvalidArgumentError(absl::StrCat("bad shm ring size \"", text, "\""));
  }
  return n * scale;
}

// Tells a refused peer why ("FERRYNAK <code> <message>"), then hangs up (by the caller
// dropping the fd).
absl::Status Refuse(int fd, absl::Status why) {
  const std::string msg = absl::StrCat(kRefusal, static_cast<int>(why.code()), " ", why.message());
  (void)::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  return why;
}

absl::StatusOr<std::array<UniqueFd, 4>> NewEventFds() {
  std::array<UniqueFd, 4> fds;
  for (UniqueFd& fd : fds) {
    absl::StatusOr<int> e =
        Syscall("eventfd", [] { return ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); });
    if (!e.ok()) return e.status();
    fd.reset(*e);
  }
  return fds;
}

// AF_UNIX connect() waits for room in a full backlog for SO_SNDTIMEO (then EAGAIN);
// there is no completion to poll for.
absl::Status ConnectWithDeadline(int fd, absl::string_view name, absl::Time deadline) {
  const auto [sa, len] = RendezvousAddress(name);
  const absl::Time now = absl::Now();
  if (deadline != absl::InfiniteFuture()) {
    timeval tv = absl::ToTimeval(std::max(deadline - now, absl::Microseconds(1)));
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  const std::string what = absl::StrCat("connect(shm://", name, ")");
  for (;;) {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), len) == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EISCONN) break;
    if (err == EAGAIN || err == EINPROGRESS) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": deadline exceeded (the server's backlog is full)"));
    }
    if (err == ECONNREFUSED || err == ENOENT) {
      return absl::UnavailableError(absl::StrCat(what, ": nobody is listening"));
    }
    return ErrnoStatus(what, err);
  }
  const timeval zero{};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
  return absl::OkStatus();
}

absl::Status SendHello(int fd, const HelloWire& hello, const int* fds, int nfds) {
  iovec iov{const_cast<HelloWire*>(&hello), sizeof(hello)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  std::memset(control, 0, sizeof(control));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  return Syscall("sendmsg(shm hello)", [&] { return ::sendmsg(fd, &msg, MSG_NOSIGNAL); }).status();
}

}  // namespace

int64_t EffectiveSpinNs(const ShmOptions& options) {
  if (options.spin_ns >= 0) return options.spin_ns;
  return options.wake == WakeMode::kFutex ? kDefaultFutexSpinNs : 0;
}

absl::Status ApplyAddress(const Address& address, ShmOptions* options) {
  if (!ValidName(address.target)) {
    return absl::InvalidArgumentError(absl::StrCat("shm name \"", address.target, "\" must be 1-",
                                                   kMaxNameLength,
                                                   " characters from [A-Za-z0-9._-]"));
  }
  if (absl::Status s =
          address.CheckOptions({"backing", "wake", "ring", "spin_us", "dir", "uids", "signal"});
      !s.ok()) {
    return s;
  }
  if (const std::string* v = address.Option("backing")) {
    absl::StatusOr<Backing> b = ParseBacking(*v);
    if (!b.ok()) return b.status();
    options->backing = *b;
  }
  if (const std::string* v = address.Option("wake")) {
    absl::StatusOr<WakeMode> w = ParseWakeMode(*v);
    if (!w.ok()) return w.status();
    options->wake = *w;
  }
  if (const std::string* v = address.Option("ring")) {
    absl::StatusOr<uint64_t> n = ParseSize(*v);
    if (!n.ok()) return n.status();
    if (absl::Status s = SegmentLayout::ForCapacity(*n).status(); !s.ok()) return s;
    options->ring_capacity = *n;
  }
  if (const std::string* v = address.Option("spin_us")) {
    int64_t us = 0;
    if (!absl::SimpleAtoi(*v, &us) || us < 0 || us > 1'000'000) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad shm spin_us \"", *v, "\" (0 to 1000000 microseconds)"));
    }
    options->spin_ns = us * 1000;
  }
  if (const std::string* v = address.Option("dir")) {
    if (v->empty() || (*v)[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat("shm dir \"", *v, "\" must be absolute"));
    }
    options->file_dir = *v;
  }
  if (const std::string* v = address.Option("uids")) {
    for (absl::string_view u : absl::StrSplit(*v, ',', absl::SkipEmpty())) {
      uint32_t uid = 0;
      if (!absl::SimpleAtoi(u, &uid)) {
        return absl::InvalidArgumentError(absl::StrCat("bad uid \"", u, "\" in shm uids"));
      }
      options->allowed_uids.push_back(uid);
    }
  }
  if (const std::string* v = address.Option("signal")) {
    int offset = 0;
    if (!absl::SimpleAtoi(*v, &offset) || offset < 0 || offset > SIGRTMAX - SIGRTMIN) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad shm signal \"", *v, "\" (an offset from SIGRTMIN, 0 to ", SIGRTMAX - SIGRTMIN, ")"));
    }
    options->signal_offset = offset;
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> ListenRendezvous(absl::string_view name, int backlog) {
  if (!ValidName(name)) return absl::InvalidArgumentError(absl::StrCat("bad shm name ", name));
  absl::StatusOr<UniqueFd> fd = NewSeqpacketSocket();
  if (!fd.ok()) return fd.status();
  const auto [sa, len] = RendezvousAddress(name);
  if (::bind(fd->get(), reinterpret_cast<const sockaddr*>(&sa), len) != 0) {
    if (errno == EADDRINUSE) {
      return absl::AlreadyExistsError(absl::StrCat("shm://", name, " is in use by a live server"));
    }
    return ErrnoStatus(absl::StrCat("bind(shm://", name, ")"), errno);
  }
  if (::listen(fd->get(), backlog) != 0) {
    return ErrnoStatus(absl::StrCat("listen(shm://", name, ")"), errno);
  }
  return fd;
}

absl::StatusOr<Endpoint> ConnectEndpoint(absl::string_view name, const ShmOptions& options,
                                         absl::Time deadline) {
  if (!ValidName(name)) return absl::InvalidArgumentError(absl::StrCat("bad shm name ", name));
  absl::StatusOr<SegmentLayout> layout = SegmentLayout::ForCapacity(options.ring_capacity);
  if (!layout.ok()) return layout.status();
  absl::StatusOr<UniqueFd> sock = NewSeqpacketSocket();
  if (!sock.ok()) return sock.status();
  if (absl::Status s = ConnectWithDeadline(sock->get(), name, deadline); !s.ok()) return s;
  absl::StatusOr<ucred> server = PeerCredentials(sock->get());
  if (!server.ok()) return server.status();
  if (server->uid != 0 && !UidAllowed(server->uid, options.allowed_uids)) {
    return absl::PermissionDeniedError(
        absl::StrCat("shm://", name, " is served by uid ", server->uid,
                     ", which is neither ours, root, nor in uids=; not handing it a segment"));
  }
  if (options.wake == WakeMode::kSignal && server->pid <= 0) {
    return absl::FailedPreconditionError(
        "wake=signal needs the server's pid (another pid namespace?)");
  }

  Endpoint ep;
  ep.side = Side::kClient;
  ep.name = std::string(name);
  ep.peer_pid = server->pid;
  ep.peer_uid = server->uid;
  ep.backing = options.backing;
  ep.wake = options.wake;
  ep.spin_ns = EffectiveSpinNs(options);
  ep.signo = SIGRTMIN + options.signal_offset;
  absl::StatusOr<std::pair<Segment, UniqueFd>> segment =
      Segment::Create(options.backing, options.file_dir, *layout);
  if (!segment.ok()) return segment.status();
  ep.segment = std::move(segment->first);

  int fds[kMaxFds] = {segment->second.get()};
  int nfds = 1;
  if (options.wake == WakeMode::kEventFd) {
    absl::StatusOr<std::array<UniqueFd, 4>> events = NewEventFds();
    if (!events.ok()) return events.status();
    ep.event_fds = *std::move(events);
    for (const UniqueFd& e : ep.event_fds) fds[nfds++] = e.get();
  }
  HelloWire hello{};
  std::memcpy(hello.magic, kHelloMagic, sizeof(kHelloMagic));
  hello.version = kSegmentVersion;
  hello.backing = static_cast<uint8_t>(options.backing);
  hello.wake = static_cast<uint8_t>(options.wake);
  hello.fd_count = static_cast<uint16_t>(nfds);
  hello.ring_capacity = options.ring_capacity;
  hello.spin_ns = ep.spin_ns;
  hello.signo = ep.signo;
  if (absl::Status s = SendHello(sock->get(), hello, fds, nfds); !s.ok()) {
    // Usually the server refused us (and hung up) before the hello went out.
    absl::Status refused = ReadRefusal(sock->get());
    if (!refused.ok()) {
      return absl::Status(
          refused.code(),
          absl::StrCat("shm://", name, ": the server refused the connection: ", refused.message()));
    }
    return absl::UnavailableError(absl::StrCat("shm://", name, ": ", s.message()));
  }
  // The segment's descriptor is not needed any more: the mapping keeps it alive, and the
  // server holds its own descriptor now.
  ep.socket = *std::move(sock);
  ep.description = Describe(name, *server, options.backing, options.wake, options.ring_capacity);
  return ep;
}

absl::StatusOr<Endpoint> AcceptEndpoint(UniqueFd peer, absl::string_view name,
                                        const ShmOptions& options) {
  absl::StatusOr<ucred> client = PeerCredentials(peer.get());
  if (!client.ok()) return client.status();
  if (!UidAllowed(client->uid, options.allowed_uids)) {
    return Refuse(peer.get(), absl::PermissionDeniedError(absl::StrCat(
                                  "uid ", client->uid, " may not connect to shm://", name)));
  }
  if (absl::Status s = WaitFd(peer.get(), POLLIN, absl::Now() + kHelloTimeout); !s.ok()) {
    return Refuse(peer.get(), absl::DeadlineExceededError("no hello from the client"));
  }

  HelloWire hello{};
  iovec iov{&hello, sizeof(hello)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  absl::StatusOr<ssize_t> got = Syscall("recvmsg(shm hello)", [&] {
    return ::recvmsg(peer.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  });
  if (!got.ok()) return got.status();
  // Take ownership of every descriptor first, so each is closed on any error below.
  std::vector<UniqueFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
  auto invalid = [&](absl::string_view why) {
    return Refuse(peer.get(), absl::InvalidArgumentError(absl::StrCat("bad shm hello: ", why)));
  };
  if (*got != static_cast<ssize_t>(sizeof(hello)) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    return invalid("wrong size");
  }
  if (std::memcmp(hello.magic, kHelloMagic, sizeof(kHelloMagic)) != 0) return invalid("magic");
  if (hello.version != kSegmentVersion) return invalid(absl::StrCat("version ", hello.version));
  if (hello.backing >= kBackingCount) return invalid("backing");
  if (hello.wake >= kWakeModeCount) return invalid("wake-up mode");
  const WakeMode wake = static_cast<WakeMode>(hello.wake);
  const size_t want_fds = wake == WakeMode::kEventFd ? 5 : 1;
  if (hello.fd_count != want_fds || fds.size() != want_fds) return invalid("descriptor count");
  if (hello.ring_capacity > options.max_ring_capacity) {
    return invalid(absl::StrCat("ring of ", hello.ring_capacity, " bytes exceeds the server's ",
                                options.max_ring_capacity));
  }
  if (hello.spin_ns < 0 || hello.spin_ns > 1'000'000'000) return invalid("spin budget");
  if (wake == WakeMode::kSignal &&
      (hello.signo < SIGRTMIN || hello.signo > SIGRTMAX || client->pid <= 0)) {
    return invalid("signal number or client pid");
  }
  absl::StatusOr<SegmentLayout> layout = SegmentLayout::ForCapacity(hello.ring_capacity);
  if (!layout.ok()) return invalid(layout.status().message());
  const Backing backing = static_cast<Backing>(hello.backing);
  absl::StatusOr<Segment> segment = Segment::Map(fds[0].get(), backing, *layout);
  if (!segment.ok()) return invalid(segment.status().message());

  Endpoint ep;
  ep.side = Side::kServer;
  ep.name = std::string(name);
  ep.segment = *std::move(segment);
  ep.peer_pid = client->pid;
  ep.peer_uid = client->uid;
  ep.backing = backing;
  ep.wake = wake;
  ep.spin_ns = hello.spin_ns;
  ep.signo = hello.signo;
  for (size_t i = 1; i < fds.size(); ++i) {
    // Ours to read without blocking, whatever the client set on its file description.
    if (absl::Status s = SetNonBlocking(fds[i].get(), true); !s.ok()) return invalid("eventfd");
    ep.event_fds[i - 1] = std::move(fds[i]);
  }
  ep.socket = std::move(peer);
  ep.description = Describe(name, *client, backing, wake, hello.ring_capacity);
  return ep;
}

absl::Status ReadRefusal(int socket_fd) {
  char buf[512];
  ssize_t n = ::recv(socket_fd, buf, sizeof(buf), MSG_DONTWAIT);
  // A server that hangs up with our hello unread leaves ECONNRESET pending on our socket;
  // the kernel reports that error once, before the messages still queued behind it.
  if (n < 0 && errno == ECONNRESET) n = ::recv(socket_fd, buf, sizeof(buf), MSG_DONTWAIT);
  const size_t prefix = sizeof(kRefusal) - 1;
  if (n <= static_cast<ssize_t>(prefix) || std::memcmp(buf, kRefusal, prefix) != 0) {
    return absl::OkStatus();
  }
  absl::string_view text(buf + prefix, static_cast<size_t>(n) - prefix);
  const size_t space = text.find(' ');
  int code = 0;
  if (space == absl::string_view::npos || !absl::SimpleAtoi(text.substr(0, space), &code) ||
      code <= 0 || code > 16) {
    return absl::UnavailableError(text);
  }
  return absl::Status(static_cast<absl::StatusCode>(code), text.substr(space + 1));
}

}  // namespace ferry::shm
