#include "bench/raw_stream.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/status.h"
#include "transports/tcp/tcp_transport.h"
#include "transports/uds/uds_transport.h"

namespace ferry::bench {
namespace {

constexpr uint32_t kCpuRequestWord = 0xFFFFFFFF;
constexpr size_t kReadBuffer = 64 * 1024;

absl::Status SetNoDelay(int fd) {
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
    return ErrnoStatus("setsockopt(TCP_NODELAY)", errno);
  }
  return absl::OkStatus();
}

// A connected stream socket speaking the raw protocol. Owns the fd.
class StreamEndpoint final : public RawEndpoint {
 public:
  explicit StreamEndpoint(int fd) : fd_(fd), in_(kReadBuffer) {}
  ~StreamEndpoint() override { ::close(fd_); }

  absl::Status Send(RawKind kind, absl::string_view payload) override {
    const uint32_t word = kind == RawKind::kCpuRequest ? kCpuRequestWord
                                                       : static_cast<uint32_t>(payload.size());
    const uint32_t header = htonl(word);
    iovec iov[2] = {{const_cast<uint32_t*>(&header), sizeof(header)},
                    {const_cast<char*>(payload.data()), payload.size()}};
    int first = 0;
    const int count = payload.empty() ? 1 : 2;
    while (first < count) {
      msghdr msg{};
      msg.msg_iov = iov + first;
      msg.msg_iovlen = static_cast<size_t>(count - first);
      const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::UnavailableError(absl::StrCat("raw send: ", std::strerror(errno)));
      }
      size_t left = static_cast<size_t>(n);
      while (first < count && left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      }
      if (first < count) {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<RawKind> Receive(std::string* payload) override {
    while (end_ - begin_ < 4) {
      if (absl::Status s = Fill(); !s.ok()) return s;
    }
    uint32_t header;
    std::memcpy(&header, in_.data() + begin_, 4);
    begin_ += 4;
    const uint32_t word = ntohl(header);
    if (word == kCpuRequestWord) {
      payload->clear();
      return RawKind::kCpuRequest;
    }
    if (word > kMaxPayload) {
      return absl::ResourceExhaustedError(
          absl::StrCat("raw message of ", word, " bytes is over the limit"));
    }
    if (payload->size() != word) payload->resize(word);
    size_t got = std::min<size_t>(word, end_ - begin_);
    std::memcpy(payload->data(), in_.data() + begin_, got);
    begin_ += got;
    while (got < word) {
      const ssize_t n = ::read(fd_, payload->data() + got, word - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return ReadError(n);
      got += static_cast<size_t>(n);
    }
    return RawKind::kEcho;
  }

  void Shutdown() override { ::shutdown(fd_, SHUT_RDWR); }

 private:
  // Reads whatever is there into in_ (after what is buffered).
  absl::Status Fill() {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == in_.size()) {  // only a header fragment can be left, so this moves < 4 bytes
      std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    while (true) {
      const ssize_t n = ::read(fd_, in_.data() + end_, in_.size() - end_);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return ReadError(n);
      end_ += static_cast<size_t>(n);
      return absl::OkStatus();
    }
  }

  static absl::Status ReadError(ssize_t n) {
    if (n == 0) return absl::UnavailableError("raw peer closed the connection");
    return absl::UnavailableError(absl::StrCat("raw read: ", std::strerror(errno)));
  }

  const int fd_;
  std::vector<char> in_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

// A listening socket. Close() wakes Accept() with shutdown(2), which Linux supports on
// listening sockets; the fd itself is closed by the destructor, after Accept() returned.
class SocketListener final : public RawListener {
 public:
  SocketListener(int fd, std::string address, std::string unlink_path, bool nodelay)
      : fd_(fd),
        address_(std::move(address)),
        unlink_path_(std::move(unlink_path)),
        nodelay_(nodelay) {}
  ~SocketListener() override {
    Close();
    ::close(fd_);
  }

  absl::StatusOr<std::unique_ptr<RawEndpoint>> Accept() override {
    while (!closed_.load()) {
      const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        if (nodelay_) {
          if (absl::Status s = SetNoDelay(fd); !s.ok()) {
            ::close(fd);
            return s;
          }
        }
        return std::unique_ptr<RawEndpoint>(new StreamEndpoint(fd));
      }
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (closed_.load()) break;
      return ErrnoStatus(absl::StrCat("accept4(", address_, ")"), errno);
    }
    return absl::UnavailableError("raw listener closed");
  }

  void Close() override {
    if (closed_.exchange(true)) return;
    ::shutdown(fd_, SHUT_RDWR);
    if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
  }

  std::string address() const override { return address_; }

 private:
  const int fd_;
  const std::string address_;
  const std::string unlink_path_;
  const bool nodelay_;
  std::atomic<bool> closed_{false};
};

absl::StatusOr<sockaddr_un> UnixSockaddr(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() > kMaxUnixPathLength) {
    return absl::InvalidArgumentError(absl::StrCat("unix socket path \"", path,
                                                   "\" is empty or longer than ",
                                                   kMaxUnixPathLength, " bytes"));
  }
  std::memcpy(sa.sun_path, path.data(), path.size());
  return sa;
}

// True if a server accepts connections on the socket file at `path`.
bool UnixPathLive(const sockaddr_un& sa) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;  // cannot tell: assume live, never steal
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0 ||
                    (errno != ECONNREFUSED && errno != ENOENT);
  ::close(fd);
  return live;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RawListener>> UdsRawMechanism::Listen(
    const Address& address) const {
  if (address.scheme != "unix") {
    return absl::InvalidArgumentError(absl::StrCat("not a unix: address: ", address.ToString()));
  }
  const std::string& path = address.target;
  absl::StatusOr<sockaddr_un> sa = UnixSockaddr(path);
  if (!sa.ok()) return sa.status();
  absl::StatusOr<int> fd =
      Syscall("socket(AF_UNIX)", [] { return ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); });
  if (!fd.ok()) return fd.status();
  const auto* addr = reinterpret_cast<const sockaddr*>(&*sa);
  if (::bind(*fd, addr, sizeof(*sa)) != 0) {
    const int err = errno;
    struct stat st {};
    if (err != EADDRINUSE) {
      ::close(*fd);
      return ErrnoStatus(absl::StrCat("bind(", path, ")"), err);
    }
    if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) || UnixPathLive(*sa)) {
      ::close(*fd);
      return absl::AlreadyExistsError(absl::StrCat(path, " is in use"));
    }
    ::unlink(path.c_str());  // a dead server's socket file
    if (::bind(*fd, addr, sizeof(*sa)) != 0) {
      const int err2 = errno;
      ::close(*fd);
      return ErrnoStatus(absl::StrCat("bind(", path, ")"), err2);
    }
  }
  if (::listen(*fd, 128) != 0) {
    const int err = errno;
    ::close(*fd);
    return ErrnoStatus(absl::StrCat("listen(", path, ")"), err);
  }
  return std::unique_ptr<RawListener>(
      new SocketListener(*fd, absl::StrCat("unix:", path), path, /*nodelay=*/false));
}

absl::StatusOr<std::unique_ptr<RawEndpoint>> UdsRawMechanism::Connect(const Address& address,
                                                                      absl::Time deadline) const {
  if (address.scheme != "unix") {
    return absl::InvalidArgumentError(absl::StrCat("not a unix: address: ", address.ToString()));
  }
  absl::StatusOr<UniqueFd> fd = ConnectUnixSocket(address.target, deadline);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<RawEndpoint>(new StreamEndpoint(fd->release()));
}

absl::StatusOr<std::unique_ptr<RawListener>> TcpRawMechanism::Listen(
    const Address& address) const {
  if (address.scheme != "tcp") {
    return absl::InvalidArgumentError(absl::StrCat("not a tcp: address: ", address.ToString()));
  }
  absl::StatusOr<TcpHostPort> hp = ParseTcpTarget(address.target);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* list = nullptr;
  const std::string port = absl::StrCat(hp->port);
  if (const int rc = ::getaddrinfo(hp->host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve \"", hp->host, "\": ", ::gai_strerror(rc)));
  }
  absl::Status last = absl::InvalidArgumentError("no address for " + hp->host);
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = ErrnoStatus("socket", errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      const int err = errno;
      last = err == EADDRINUSE ? absl::AlreadyExistsError(
                                     absl::StrCat(address.ToString(), ": address in use"))
                               : ErrnoStatus(absl::StrCat("bind(", address.ToString(), ")"), err);
      ::close(fd);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    char host[INET6_ADDRSTRLEN] = "?";
    std::string bound;
    if (ss.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
      bound = absl::StrCat("tcp://[", host, "]:", ntohs(in6->sin6_port));
    } else {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
      bound = absl::StrCat("tcp://", host, ":", ntohs(in->sin_port));
    }
    ::freeaddrinfo(list);
    return std::unique_ptr<RawListener>(new SocketListener(fd, bound, "", /*nodelay=*/true));
  }
  ::freeaddrinfo(list);
  return last;
}

absl::StatusOr<std::unique_ptr<RawEndpoint>> TcpRawMechanism::Connect(const Address& address,
                                                                      absl::Time deadline) const {
  if (address.scheme != "tcp") {
    return absl::InvalidArgumentError(absl::StrCat("not a tcp: address: ", address.ToString()));
  }
  absl::StatusOr<UniqueFd> fd = ConnectTcpSocket(address.target, deadline);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<RawEndpoint>(new StreamEndpoint(fd->release()));
}

}  // namespace ferry::bench
