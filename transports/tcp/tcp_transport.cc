#include "transports/tcp/tcp_transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/status.h"
#include "transports/stream/byte_stream.h"
#include "transports/stream/socket_listener.h"
#include "transports/stream/stream_connection.h"

namespace ferry {
namespace {

struct AddrInfoDeleter {
  void operator()(addrinfo* a) const { ::freeaddrinfo(a); }
};
using AddrInfoList = std::unique_ptr<addrinfo, AddrInfoDeleter>;

absl::StatusOr<AddrInfoList> Resolve(const TcpHostPort& hp, bool passive,
                                     absl::StatusCode unknown_host_code) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  // No AI_ADDRCONFIG: it hides ::1 on hosts whose only IPv6 address is the loopback one,
  // which is exactly where tests run.
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  const std::string port = absl::StrCat(hp.port);
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &list);
  if (rc == 0) return AddrInfoList(list);
  if (rc == EAI_SYSTEM) return ErrnoStatus(absl::StrCat("getaddrinfo(", hp.host, ")"), errno);
  absl::StatusCode code;
  switch (rc) {
    case EAI_AGAIN:
      code = absl::StatusCode::kUnavailable;
      break;
    case EAI_MEMORY:
      code = absl::StatusCode::kResourceExhausted;
      break;
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_FAIL:
    case EAI_ADDRFAMILY:
      code = unknown_host_code;
      break;
    default:
      code = absl::StatusCode::kInvalidArgument;
  }
  return absl::Status(code, absl::StrCat("cannot resolve \"", hp.host, "\": ", ::gai_strerror(rc)));
}

// "127.0.0.1:80" or "[::1]:80".
std::string FormatSockaddr(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return absl::StrCat(host, ":", ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(in6->sin6_port));
  }
  return absl::StrCat("<address family ", sa->sa_family, ">");
}

absl::StatusOr<std::string> SocketName(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  if ((peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len)) != 0) {
    return ErrnoStatus(peer ? "getpeername" : "getsockname", errno);
  }
  return absl::StrCat("tcp://", FormatSockaddr(sa));
}

absl::Status SetIntOption(int fd, int level, int name, int value, absl::string_view what) {
  if (::setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
    return ErrnoStatus(absl::StrCat("setsockopt(", what, ")"), errno);
  }
  return absl::OkStatus();
}

// A connect failure is the peer's (or the network's) problem unless it is about us
// (permissions, resources): the caller should treat it as "nobody there" and maybe retry.
absl::Status ConnectError(absl::string_view what, int err) {
  absl::Status s = ErrnoStatus(what, err);
  switch (s.code()) {
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
      return s;
    default:  // EADDRNOTAVAIL, EAFNOSUPPORT, ETIMEDOUT (SYN retries exhausted), ...
      return absl::UnavailableError(s.message());
  }
}

absl::StatusOr<std::unique_ptr<Connection>> WrapSocket(UniqueFd fd,
                                                       const ConnectionLimits& limits) {
  if (absl::Status s = SetIntOption(fd.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> peer = SocketName(fd.get(), /*peer=*/true);
  if (!peer.ok()) return peer.status();
  return std::unique_ptr<Connection>(StreamConnection::Create(
      std::make_unique<SocketByteStream>(std::move(fd)), *std::move(peer), limits));
}

}  // namespace

absl::StatusOr<TcpHostPort> ParseTcpTarget(absl::string_view target) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("tcp address \"", target, "\": ", why));
  };
  TcpHostPort hp;
  absl::string_view port;
  if (!target.empty() && target[0] == '[') {
    const size_t close = target.find(']');
    if (close == absl::string_view::npos) return bad("missing ']' after the IPv6 address");
    hp.host = std::string(target.substr(1, close - 1));
    absl::string_view rest = target.substr(close + 1);
    if (rest.empty() || rest[0] != ':') return bad("expected \":port\" after ']'");
    port = rest.substr(1);
  } else {
    const size_t colon = target.rfind(':');
    if (colon == absl::string_view::npos) return bad("no port (expected host:port)");
    hp.host = std::string(target.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) {
      return bad("write IPv6 addresses in brackets, e.g. tcp://[::1]:5000");
    }
    port = target.substr(colon + 1);
  }
  if (hp.host.empty()) return bad("no host (use 0.0.0.0 or [::] for every interface)");
  uint32_t value = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &value) || value > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

absl::StatusOr<UniqueFd> ConnectTcpSocket(absl::string_view target, absl::Time deadline) {
  absl::StatusOr<TcpHostPort> hp = ParseTcpTarget(target);
  if (!hp.ok()) return hp.status();
  if (absl::Now() >= deadline) {
    return absl::DeadlineExceededError(
        absl::StrCat("connect(tcp://", target, "): deadline exceeded before connecting"));
  }
  absl::StatusOr<AddrInfoList> list = Resolve(*hp, /*passive=*/false,
                                              absl::StatusCode::kUnavailable);
  if (!list.ok()) return list.status();
  absl::Status last = absl::UnavailableError(
      absl::StrCat("connect(tcp://", target, "): no usable address"));
  for (const addrinfo* a = list->get(); a != nullptr; a = a->ai_next) {
    const std::string what = absl::StrCat("connect(tcp://", FormatSockaddr(a->ai_addr), ")");
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         a->ai_protocol));
    if (!fd.valid()) {
      last = ConnectError(absl::StrCat("socket for ", what), errno);
      continue;
    }
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      // EINTR on a non-blocking connect: the attempt continues in the background.
      if (errno != EINPROGRESS && errno != EINTR) {
        last = ConnectError(what, errno);
        continue;
      }
      absl::Status ready = WaitFd(fd.get(), POLLOUT, deadline);
      if (ready.code() == absl::StatusCode::kDeadlineExceeded) {
        return absl::DeadlineExceededError(absl::StrCat(what, ": deadline exceeded"));
      }
      if (!ready.ok()) return ready;
      int err = 0;
      socklen_t len = sizeof(err);
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) {
        last = ConnectError(what, err);
        continue;
      }
    }
    // Blocking from here on: an infinite-deadline Receive() is then one plain read(2).
    if (absl::Status s = SetNonBlocking(fd.get(), false); !s.ok()) return s;
    if (absl::Status s = SetIntOption(fd.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
        !s.ok()) {
      return s;
    }
    return fd;
  }
  return last;
}

absl::StatusOr<std::unique_ptr<Listener>> TcpTransport::Listen(const Address& address,
                                                               const ConnectionLimits& limits) {
  if (absl::Status s = address.CheckOptions({}); !s.ok()) return s;
  absl::StatusOr<TcpHostPort> hp = ParseTcpTarget(address.target);
  if (!hp.ok()) return hp.status();
  absl::StatusOr<AddrInfoList> list = Resolve(*hp, /*passive=*/true,
                                              absl::StatusCode::kInvalidArgument);
  if (!list.ok()) return list.status();
  absl::Status first_error;
  auto fail = [&](absl::Status s) {
    if (first_error.ok()) first_error = std::move(s);
  };
  for (const addrinfo* a = list->get(); a != nullptr; a = a->ai_next) {
    const std::string where = absl::StrCat("tcp://", FormatSockaddr(a->ai_addr));
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd.valid()) {
      fail(ErrnoStatus(absl::StrCat("socket for ", where), errno));
      continue;
    }
    if (absl::Status s = SetIntOption(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
        !s.ok()) {
      fail(s);
      continue;
    }
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      const int err = errno;
      if (err == EADDRINUSE) {
        fail(absl::AlreadyExistsError(absl::StrCat(where, " is in use by another listener")));
      } else if (err == EADDRNOTAVAIL) {
        fail(absl::InvalidArgumentError(
            absl::StrCat("bind(", where, "): not an address of this host")));
      } else {
        fail(ErrnoStatus(absl::StrCat("bind(", where, ")"), err));
      }
      continue;
    }
    if (::listen(fd.get(), options_.backlog) != 0) {
      fail(ErrnoStatus(absl::StrCat("listen(", where, ")"), errno));
      continue;
    }
    absl::StatusOr<std::string> name = SocketName(fd.get(), /*peer=*/false);
    if (!name.ok()) return name.status();
    auto wrap = [limits](UniqueFd peer) { return WrapSocket(std::move(peer), limits); };
    return std::unique_ptr<Listener>(std::make_unique<SocketListener>(
        std::move(fd), *std::move(name), std::move(wrap), nullptr));
  }
  return first_error;
}

absl::StatusOr<std::unique_ptr<Connection>> TcpTransport::Connect(const Address& address,
                                                                  const ConnectionLimits& limits,
                                                                  absl::Time deadline) {
  if (absl::Status s = address.CheckOptions({}); !s.ok()) return s;
  absl::StatusOr<UniqueFd> fd = ConnectTcpSocket(address.target, deadline);
  if (!fd.ok()) return fd.status();
  return WrapSocket(*std::move(fd), limits);
}

}  // namespace ferry
