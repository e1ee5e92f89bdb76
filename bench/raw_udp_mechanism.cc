#include "bench/raw_udp_mechanism.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/status.h"
#include "transports/stream/fd.h"
#include "transports/tcp/tcp_transport.h"

namespace ferry::bench {
namespace {

constexpr size_t kChunk = 65000;
constexpr size_t kHeader = 5;
constexpr uint8_t kEchoKind = 0, kCpuKind = 1, kByeKind = 0xFF;
constexpr char kHello[] = "ferry-raw-udp-hello";
constexpr int kBuffer = 4 << 20;

void SetBuffers(int fd) {
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kBuffer, sizeof(kBuffer));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kBuffer, sizeof(kBuffer));
}

std::string Format(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return absl::StrCat(host, ":", ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
  return absl::StrCat("[", host, "]:", ntohs(in6->sin6_port));
}

absl::StatusOr<sockaddr_storage> ResolveOne(const Address& address, bool passive,
                                            socklen_t* len) {
  absl::StatusOr<TcpHostPort> hp = ParseTcpTarget(address.target);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* list = nullptr;
  const std::string port = absl::StrCat(hp->port);
  if (::getaddrinfo(hp->host.c_str(), port.c_str(), &hints, &list) != 0 || list == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resolve ", address.target));
  }
  sockaddr_storage ss{};
  std::memcpy(&ss, list->ai_addr, list->ai_addrlen);
  *len = list->ai_addrlen;
  ::freeaddrinfo(list);
  return ss;
}

class UdpEndpoint final : public RawEndpoint {
 public:
  explicit UdpEndpoint(UniqueFd fd) : fd_(std::move(fd)), buf_(kChunk + kHeader, '\0') {}
  ~UdpEndpoint() override { Shutdown(); }

  absl::Status Send(RawKind kind, absl::string_view payload) override {
    char header[kHeader];
    header[0] = static_cast<char>(kind == RawKind::kCpuRequest ? kCpuKind : kEchoKind);
    absl::big_endian::Store32(header + 1, static_cast<uint32_t>(payload.size()));
    size_t first = std::min(payload.size(), kChunk);
    if (absl::Status s = SendOne(header, kHeader, payload.substr(0, first)); !s.ok()) return s;
    for (size_t off = first; off < payload.size(); off += kChunk) {
      if (absl::Status s = SendOne(nullptr, 0, payload.substr(off, kChunk)); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<RawKind> Receive(std::string* payload) override {
    ssize_t n = Recv();
    if (n < 0) return absl::UnavailableError("raw udp peer gone");
    if (n < static_cast<ssize_t>(kHeader)) {
      if (n >= 1 && static_cast<uint8_t>(buf_[0]) == kByeKind) {
        return absl::UnavailableError("raw udp peer closed");
      }
      return absl::InvalidArgumentError("short raw udp datagram");
    }
    const uint8_t kind = static_cast<uint8_t>(buf_[0]);
    const uint32_t total = absl::big_endian::Load32(buf_.data() + 1);
    if (total > kMaxPayload) return absl::ResourceExhaustedError("raw udp message too long");
    payload->resize(total);
    size_t have = std::min<size_t>(n - kHeader, total);
    std::memcpy(payload->data(), buf_.data() + kHeader, have);
    while (have < total) {
      // Straight into the destination: one copy, like the stream floors.
      const ssize_t m = ::recv(fd_.get(), payload->data() + have, total - have, 0);
      if (m <= 0) {
        if (m < 0 && errno == EINTR) continue;
        return absl::UnavailableError("raw udp peer gone mid-message");
      }
      have += static_cast<size_t>(m);
    }
    return kind == kCpuKind ? RawKind::kCpuRequest : RawKind::kEcho;
  }

  void Shutdown() override {
    if (done_.exchange(true)) return;
    const char bye = static_cast<char>(kByeKind);
    ::send(fd_.get(), &bye, 1, MSG_NOSIGNAL);
    ::shutdown(fd_.get(), SHUT_RDWR);
  }

 private:
  absl::Status SendOne(const char* header, size_t header_len, absl::string_view data) {
    iovec iov[2] = {{const_cast<char*>(header), header_len},
                    {const_cast<char*>(data.data()), data.size()}};
    msghdr m{};
    m.msg_iov = header_len == 0 ? iov + 1 : iov;
    m.msg_iovlen = header_len == 0 ? 1 : 2;
    for (;;) {
      if (::sendmsg(fd_.get(), &m, MSG_NOSIGNAL) >= 0) return absl::OkStatus();
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("raw udp send: ", std::strerror(errno)));
    }
  }
  ssize_t Recv() {
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), &buf_[0], buf_.size(), 0);
      if (n > 0) return n;
      if (n < 0 && errno == EINTR) continue;
      return -1;
    }
  }

  UniqueFd fd_;
  std::string buf_;
  std::atomic<bool> done_{false};
};

class UdpRawListener final : public RawListener {
 public:
  UdpRawListener(UniqueFd fd, sockaddr_storage local, socklen_t len, std::string address)
      : fd_(std::move(fd)), local_(local), len_(len), address_(std::move(address)) {}
  ~UdpRawListener() override { Close(); }

  absl::StatusOr<std::unique_ptr<RawEndpoint>> Accept() override {
    char buf[64];
    for (;;) {
      sockaddr_storage from{};
      socklen_t from_len = sizeof(from);
      const ssize_t n = ::recvfrom(fd_.get(), buf, sizeof(buf), 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
      if (closed_.load()) return absl::UnavailableError("raw udp listener closed");
      if (n < 0 && errno == EINTR) continue;
      if (n != static_cast<ssize_t>(sizeof(kHello) - 1) ||
          std::memcmp(buf, kHello, sizeof(kHello) - 1) != 0) {
        continue;
      }
      UniqueFd s(::socket(local_.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      const int one = 1;
      ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      SetBuffers(s.get());
      if (::bind(s.get(), reinterpret_cast<sockaddr*>(&local_), len_) != 0 ||
          ::connect(s.get(), reinterpret_cast<sockaddr*>(&from), from_len) != 0) {
        continue;
      }
      ::send(s.get(), kHello, sizeof(kHello) - 1, 0);  // from the connected socket
      return std::unique_ptr<RawEndpoint>(new UdpEndpoint(std::move(s)));
    }
  }
  void Close() override {
    if (closed_.exchange(true)) return;
    ::shutdown(fd_.get(), SHUT_RDWR);
  }
  std::string address() const override { return address_; }

 private:
  UniqueFd fd_;
  sockaddr_storage local_;
  socklen_t len_;
  std::string address_;
  std::atomic<bool> closed_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<RawListener>> UdpRawMechanism::Listen(
    const Address& address) const {
  socklen_t len = 0;
  absl::StatusOr<sockaddr_storage> ss = ResolveOne(address, true, &len);
  if (!ss.ok()) return ss.status();
  UniqueFd fd(::socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&*ss), len) != 0) {
    return ErrnoStatus(absl::StrCat("bind(", address.target, ")"), errno);
  }
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage local{};
  socklen_t local_len = sizeof(local);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &local_len);
  return std::unique_ptr<RawListener>(new UdpRawListener(
      std::move(fd), local, local_len,
      absl::StrCat("udp://", Format(reinterpret_cast<sockaddr*>(&local)))));
}

absl::StatusOr<std::unique_ptr<RawEndpoint>> UdpRawMechanism::Connect(
    const Address& address, absl::Time deadline) const {
  socklen_t len = 0;
  absl::StatusOr<sockaddr_storage> ss = ResolveOne(address, false, &len);
  if (!ss.ok()) return ss.status();
  UniqueFd fd(::socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SetBuffers(fd.get());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&*ss), len) != 0) {
    return ErrnoStatus("connect", errno);
  }
  // Hello until the per-client socket answers (its reply comes from the same port).
  char buf[64];
  while (absl::Now() < deadline) {
    ::send(fd.get(), kHello, sizeof(kHello) - 1, 0);
    if (!WaitFd(fd.get(), POLLIN, std::min(deadline, absl::Now() + absl::Milliseconds(100))).ok()) {
      continue;
    }
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && errno == ECONNREFUSED) return absl::UnavailableError("raw udp: refused");
    if (n == static_cast<ssize_t>(sizeof(kHello) - 1)) {
      return std::unique_ptr<RawEndpoint>(new UdpEndpoint(std::move(fd)));
    }
  }
  return absl::DeadlineExceededError("raw udp: no answer");
}

}  // namespace ferry::bench
