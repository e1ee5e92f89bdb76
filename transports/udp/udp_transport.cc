#include "transports/udp/udp_transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/status.h"
#include "transports/stream/fd.h"
#include "transports/tcp/tcp_transport.h"
#include "transports/udp/udp_connection.h"
#include "transports/udp/udp_wire.h"

namespace ferry {
namespace {

using udp::ConnectionConfig;
using udp::DatagramHeader;
using udp::DatagramKind;
using udp::HandshakePayload;
using udp::UdpConnection;

struct AddrInfoDeleter {
  void operator()(addrinfo* a) const { ::freeaddrinfo(a); }
};
using AddrInfoList = std::unique_ptr<addrinfo, AddrInfoDeleter>;

absl::StatusOr<AddrInfoList> Resolve(const TcpHostPort& hp, bool passive,
                                     absl::StatusCode unknown_host_code) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  const std::string port = absl::StrCat(hp.port);
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &list);
  if (rc == 0) return AddrInfoList(list);
  if (rc == EAI_SYSTEM) return ErrnoStatus(absl::StrCat("getaddrinfo(", hp.host, ")"), errno);
  const absl::StatusCode code = (rc == EAI_AGAIN) ? absl::StatusCode::kUnavailable
                                : (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL)
                                    ? unknown_host_code
                                    : absl::StatusCode::kInvalidArgument;
  return absl::Status(code,
                      absl::StrCat("cannot resolve \"", hp.host, "\": ", ::gai_strerror(rc)));
}

std::string FormatSockaddr(const sockaddr* sa) {
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

bool IsLoopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr) >> 24) == 127;
  }
  const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&a) ||
         (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
}

uint64_t RandomConnectionId() {
  uint64_t id = 0;
  while (id == 0) {
    if (::getrandom(&id, sizeof(id), 0) != sizeof(id)) {
      id = static_cast<uint64_t>(absl::GetCurrentTimeNanos()) ^
           (static_cast<uint64_t>(::getpid()) << 32);
    }
  }
  return id;
}

// Per-address settings: the transport's Options overridden by "?key=value".
struct Settings {
  uint32_t fragment = 0;  // 0: by address (loopback or not)
  UdpTransport::Options o;
  udp::FaultOptions faults;
};

constexpr absl::string_view kKnownOptions[] = {"fragment",        "rto_ms", "max_rto_ms",
                                               "peer_timeout_ms", "idle_timeout_ms",
                                               "loss",            "dup",    "reorder",
                                               "seed"};

absl::StatusOr<Settings> ParseSettings(const Address& address, const UdpTransport::Options& o) {
  if (absl::Status s = address.CheckOptions(kKnownOptions); !s.ok()) return s;
  Settings st;
  st.o = o;
  auto millis = [&](const char* key, absl::Duration* out) -> absl::Status {
    const std::string* v = address.Option(key);
    if (v == nullptr) return absl::OkStatus();
    int64_t ms;
    if (!absl::SimpleAtoi(*v, &ms) || ms <= 0 || ms > 86400000) {
      return absl::InvalidArgumentError(absl::StrCat("bad ", key, "=", *v));
    }
    *out = absl::Milliseconds(ms);
    return absl::OkStatus();
  };
  auto prob = [&](const char* key, double* out) -> absl::Status {
    const std::string* v = address.Option(key);
    if (v == nullptr) return absl::OkStatus();
    if (!absl::SimpleAtod(*v, out) || !(*out >= 0 && *out < 1)) {
      return absl::InvalidArgumentError(absl::StrCat("bad ", key, "=", *v, " (0 <= p < 1)"));
    }
    return absl::OkStatus();
  };
  for (absl::Status s : {millis("rto_ms", &st.o.rto), millis("max_rto_ms", &st.o.max_rto),
                         millis("peer_timeout_ms", &st.o.peer_timeout),
                         millis("idle_timeout_ms", &st.o.idle_timeout),
                         prob("loss", &st.faults.loss), prob("dup", &st.faults.dup),
                         prob("reorder", &st.faults.reorder)}) {
    if (!s.ok()) return s;
  }
  if (const std::string* v = address.Option("fragment")) {
    if (!absl::SimpleAtoi(*v, &st.fragment) || st.fragment < udp::kMinFragment ||
        st.fragment > udp::kMaxFragment) {
      return absl::InvalidArgumentError(absl::StrCat("bad fragment=", *v, " (", udp::kMinFragment,
                                                     "..", udp::kMaxFragment, ")"));
    }
  }
  if (const std::string* v = address.Option("seed")) {
    if (!absl::SimpleAtoi(*v, &st.faults.seed)) {
      return absl::InvalidArgumentError(absl::StrCat("bad seed=", *v));
    }
  }
  if (st.o.max_rto < st.o.rto) st.o.max_rto = st.o.rto;
  return st;
}

uint32_t FragmentFor(const Settings& st, const sockaddr* peer) {
  if (st.fragment != 0) return st.fragment;
  return std::min(udp::kMaxFragment,
                  IsLoopback(peer) ? st.o.fragment_loopback : st.o.fragment_remote);
}

// Socket buffers as large as allowed; returns the receive buffer the kernel granted.
int SetBuffers(int fd, int want) {
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
  int got = 0;
  socklen_t len = sizeof(got);
  ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
  return got;
}

// Fragments per unit we can take in one burst without overflowing our receive buffer
// (each datagram costs its size plus roughly 1 KiB of kernel bookkeeping); half of it,
// since another unit may be arriving at the same time. At most 256: a burst also passes
// the kernel's per-CPU input queue (net.core.netdev_max_backlog, 1000 packets by default),
// which drops the excess on loopback.
uint32_t WindowFor(int rcvbuf, uint32_t fragment) {
  const int64_t w = static_cast<int64_t>(rcvbuf) / (fragment + 1024) / 2;
  return static_cast<uint32_t>(std::clamp<int64_t>(w, 2, 256));
}

uint32_t MaxUnit(const ConnectionLimits& limits) {
  // A unit carries one Send(): a message plus control frames (CALL_START or CALL_END,
  // at most 64 KiB each) and their headers.
  const uint64_t m = uint64_t{limits.max_frame_payload} + kMaxControlPayload + 8 * kFrameHeaderSize;
  return static_cast<uint32_t>(std::min<uint64_t>(m, 0xffffffffu));
}

ConnectionConfig MakeConfig(const Settings& st, uint32_t fragment, uint32_t window,
                            uint32_t max_unit, uint32_t peer_max_unit,
                            const std::shared_ptr<std::atomic<int64_t>>& total) {
  ConnectionConfig c;
  c.fragment = fragment;
  c.window = window;
  c.max_unit = max_unit;
  c.peer_max_unit = peer_max_unit;
  c.rto = st.o.rto;
  c.max_rto = st.o.max_rto;
  c.peer_timeout = st.o.peer_timeout;
  c.idle_timeout = st.o.idle_timeout;
  c.confirm_after_silence = st.o.confirm_after_silence;
  c.reply_cache_entries = st.o.reply_cache_entries;
  c.reply_cache_bytes = st.o.reply_cache_bytes;
  c.reassembly_bytes = st.o.reassembly_bytes_per_peer;
  c.reassembly_total = total;
  c.reassembly_total_max = st.o.reassembly_bytes_total;
  c.faults = st.faults;
  return c;
}

std::string ConnIdHex(uint64_t id) { return absl::StrCat(absl::Hex(id, absl::kZeroPad16)); }

// ---- Listener -------------------------------------------------------------------------------

// What a listener and its connections share: the ids of live connections.
struct ListenerShared {
  std::mutex mu;
  absl::flat_hash_set<uint64_t> live;
};

class UdpListener final : public Listener {
 public:
  UdpListener(UniqueFd fd, sockaddr_storage local, socklen_t local_len, std::string address,
              Settings settings, ConnectionLimits limits,
              std::shared_ptr<std::atomic<int64_t>> total)
      : fd_(std::move(fd)),
        local_(local),
        local_len_(local_len),
        address_(std::move(address)),
        settings_(std::move(settings)),
        limits_(limits),
        total_(std::move(total)),
        shared_(std::make_shared<ListenerShared>()) {
    thread_ = std::thread([this] { Run(); });
  }
  ~UdpListener() override { Close(); }

  absl::StatusOr<std::unique_ptr<Connection>> Accept() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
    if (closed_) return absl::UnavailableError(absl::StrCat("listener ", address_, " closed"));
    std::unique_ptr<Connection> c = std::move(queue_.front());
    queue_.pop_front();
    return c;
  }

  void Close() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
      cv_.notify_all();
    }
    ::shutdown(fd_.get(), SHUT_RDWR);  // wakes the thread's recvfrom (even unconnected)
    if (thread_.joinable()) thread_.join();
    fd_.reset();
    std::deque<std::unique_ptr<Connection>> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending.swap(queue_);
    }
    pending.clear();  // closes them (the clients see CLOSE)
  }

  std::string address() const override { return address_; }

  UdpStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void Run() {
    std::string buf(65536, '\0');
    for (;;) {
      sockaddr_storage from{};
      socklen_t from_len = sizeof(from);
      const ssize_t n = ::recvfrom(fd_.get(), &buf[0], buf.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_) return;
      }
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ECONNREFUSED) continue;
        absl::SleepFor(absl::Milliseconds(10));  // ENOMEM and the like: do not spin
        continue;
      }
      Handle(absl::string_view(buf.data(), static_cast<size_t>(n)),
             reinterpret_cast<const sockaddr*>(&from), from_len);
    }
  }

  void Handle(absl::string_view dgram, const sockaddr* from, socklen_t from_len) {
    absl::StatusOr<DatagramHeader> h = DatagramHeader::Parse(dgram);
    if (!h.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.garbage;
      return;
    }
    bool known;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      known = shared_->live.contains(h->conn_id);
    }
    if (h->kind != DatagramKind::kConnect) {
      // Traffic for a connection we do not have (the server restarted, or dropped or
      // closed it): say so, so the client fails fast instead of timing out. A datagram
      // for a live connection lands here only in the instant before its socket is
      // connected; the client retransmits it.
      if (!known && (h->kind == DatagramKind::kData || h->kind == DatagramKind::kProbe ||
                     h->kind == DatagramKind::kAck)) {
        DatagramHeader r;
        r.kind = DatagramKind::kReset;
        r.conn_id = h->conn_id;
        char out[udp::kDatagramHeaderSize];
        r.Serialize(out);
        ::sendto(fd_.get(), out, sizeof(out), MSG_NOSIGNAL, from, from_len);
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.resets;
      }
      return;
    }
    if (known) return;  // a repeated CONNECT; the connection's own socket answers those
    absl::StatusOr<HandshakePayload> hello =
        HandshakePayload::Decode(dgram.substr(udp::kDatagramHeaderSize));
    if (!hello.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.garbage;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.size() >= settings_.o.backlog) return;  // the client retries
    }
    absl::StatusOr<std::unique_ptr<Connection>> conn = MakeConnection(*h, *hello, from, from_len);
    if (!conn.ok()) return;  // one peer's problem; keep serving
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.accepted;
    queue_.push_back(*std::move(conn));
    cv_.notify_one();
  }

  absl::StatusOr<std::unique_ptr<Connection>> MakeConnection(const DatagramHeader& h,
                                                             const HandshakePayload& peer,
                                                             const sockaddr* from,
                                                             socklen_t from_len) {
    absl::StatusOr<int> fd = Syscall("socket", [&] {
      return ::socket(local_.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    });
    if (!fd.ok()) return fd.status();
    UniqueFd sock(*fd);
    const int one = 1;
    ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    const int rcvbuf = SetBuffers(sock.get(), settings_.o.socket_buffer);
    if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&local_), local_len_) != 0) {
      return ErrnoStatus("bind(per-client socket)", errno);
    }
    if (::connect(sock.get(), from, from_len) != 0) return ErrnoStatus("connect", errno);

    const uint32_t fragment = std::min(FragmentFor(settings_, from), peer.fragment);
    HandshakePayload mine;
    mine.max_unit = MaxUnit(limits_);
    mine.fragment = FragmentFor(settings_, from);
    mine.window = WindowFor(rcvbuf, mine.fragment);
    mine.idle_timeout_ms = static_cast<uint32_t>(
        std::min<int64_t>(absl::ToInt64Milliseconds(settings_.o.idle_timeout), 0xffffffff));
    UdpConnection::Params p;
    p.role = UdpConnection::Role::kServer;
    p.fd = std::move(sock);
    p.conn_id = h.conn_id;
    p.peer_description = absl::StrCat("udp://", FormatSockaddr(from), " conn=", ConnIdHex(h.conn_id));
    p.config = MakeConfig(settings_, fragment, std::min(peer.window, WindowFor(rcvbuf, fragment)),
                          mine.max_unit, peer.max_unit, total_);
    p.limits = limits_;
    p.accept_payload = mine.Encode();
    std::weak_ptr<ListenerShared> weak = shared_;
    const uint64_t id = h.conn_id;
    p.on_close = [weak, id] {
      if (auto s = weak.lock()) {
        std::lock_guard<std::mutex> lock(s->mu);
        s->live.erase(id);
      }
    };
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->live.insert(id);
    }
    // ACCEPT goes out from the connection's own socket: the client learns nothing new
    // (same address and port) but its later datagrams now reach that socket.
    DatagramHeader a;
    a.kind = DatagramKind::kAccept;
    a.conn_id = id;
    std::string out(udp::kDatagramHeaderSize, '\0');
    a.Serialize(&out[0]);
    out += p.accept_payload;
    ::send(p.fd.get(), out.data(), out.size(), MSG_NOSIGNAL);
    return std::unique_ptr<Connection>(new UdpConnection(std::move(p)));
  }

  UniqueFd fd_;
  const sockaddr_storage local_;
  const socklen_t local_len_;
  const std::string address_;
  const Settings settings_;
  const ConnectionLimits limits_;
  const std::shared_ptr<std::atomic<int64_t>> total_;
  const std::shared_ptr<ListenerShared> shared_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  std::deque<std::unique_ptr<Connection>> queue_;
  UdpStats stats_;
  std::thread thread_;
};

}  // namespace

UdpTransport::UdpTransport(const Options& options)
    : options_(options), reassembly_in_use_(std::make_shared<std::atomic<int64_t>>(0)) {}

UdpTransport::~UdpTransport() = default;

absl::StatusOr<std::unique_ptr<Listener>> UdpTransport::Listen(const Address& address,
                                                               const ConnectionLimits& limits) {
  absl::StatusOr<Settings> st = ParseSettings(address, options_);
  if (!st.ok()) return st.status();
  absl::StatusOr<TcpHostPort> hp = ParseTcpTarget(address.target);
  if (!hp.ok()) return hp.status();
  absl::StatusOr<AddrInfoList> list = Resolve(*hp, true, absl::StatusCode::kInvalidArgument);
  if (!list.ok()) return list.status();
  const addrinfo* ai = list->get();
  absl::StatusOr<int> fd = Syscall("socket", [&] {
    return ::socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  });
  if (!fd.ok()) return fd.status();
  UniqueFd sock(*fd);
  // (Each accepted client gets a socket of its own, buffered the same way.)
  SetBuffers(sock.get(), options_.socket_buffer);
  // Bound without SO_REUSEADDR, so a second listener on a live port fails (the
  // per-client sockets need SO_REUSEADDR, which is turned on after the bind).
  if (::bind(sock.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
    const int err = errno;
    if (err == EADDRINUSE) {
      return absl::AlreadyExistsError(
          absl::StrCat("udp address ", address.target, " is in use (a live listener or its connections)"));
    }
    return ErrnoStatus(absl::StrCat("bind(", address.target, ")"), err);
  }
  const int one = 1;
  ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage local{};
  socklen_t local_len = sizeof(local);
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    return ErrnoStatus("getsockname", errno);
  }
  Address bound = address;
  bound.slashes = true;
  bound.target = FormatSockaddr(reinterpret_cast<const sockaddr*>(&local));
  return std::unique_ptr<Listener>(new UdpListener(std::move(sock), local, local_len,
                                                   bound.ToString(), *std::move(st), limits,
                                                   reassembly_in_use_));
}

absl::StatusOr<std::unique_ptr<Connection>> UdpTransport::Connect(const Address& address,
                                                                  const ConnectionLimits& limits,
                                                                  absl::Time deadline) {
  absl::StatusOr<Settings> st = ParseSettings(address, options_);
  if (!st.ok()) return st.status();
  absl::StatusOr<TcpHostPort> hp = ParseTcpTarget(address.target);
  if (!hp.ok()) return hp.status();
  absl::StatusOr<AddrInfoList> list = Resolve(*hp, false, absl::StatusCode::kUnavailable);
  if (!list.ok()) return list.status();
  absl::Status last = absl::UnavailableError(absl::StrCat("no address for ", address.target));
  for (const addrinfo* ai = list->get(); ai != nullptr; ai = ai->ai_next) {
    absl::StatusOr<int> fd = Syscall("socket", [&] {
      return ::socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    });
    if (!fd.ok()) return fd.status();
    UniqueFd sock(*fd);
    const int rcvbuf = SetBuffers(sock.get(), options_.socket_buffer);
    if (::connect(sock.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      last = ErrnoStatus(absl::StrCat("connect(udp://", address.target, ")"), errno);
      continue;
    }
    const uint64_t id = RandomConnectionId();
    HandshakePayload mine;
    mine.max_unit = MaxUnit(limits);
    mine.fragment = FragmentFor(*st, ai->ai_addr);
    mine.window = WindowFor(rcvbuf, mine.fragment);
    DatagramHeader h;
    h.kind = DatagramKind::kConnect;
    h.conn_id = id;
    std::string out(udp::kDatagramHeaderSize, '\0');
    h.Serialize(&out[0]);
    out += mine.Encode();

    // CONNECT until ACCEPT, with backoff; ICMP port unreachable -> refused.
    absl::Duration backoff = st->o.rto;
    absl::StatusOr<HandshakePayload> accepted = absl::DeadlineExceededError(
        absl::StrCat("no answer from udp://", address.target, " before the deadline"));
    std::string buf(65536, '\0');
    bool done = false;
    while (!done) {
      if (::send(sock.get(), out.data(), out.size(), MSG_NOSIGNAL) < 0 && errno == ECONNREFUSED) {
        accepted = ErrnoStatus(absl::StrCat("connect(udp://", address.target, ")"), ECONNREFUSED);
        break;
      }
      const absl::Time retry = std::min(deadline, absl::Now() + backoff);
      backoff = std::min(backoff * 2, st->o.max_rto);
      for (;;) {
        absl::Status w = WaitFd(sock.get(), POLLIN, retry);
        if (!w.ok()) {
          if (absl::Now() >= deadline) done = true;
          break;
        }
        const ssize_t n = ::recv(sock.get(), &buf[0], buf.size(), MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EINTR || errno == EAGAIN) continue;
          accepted = ErrnoStatus(absl::StrCat("connect(udp://", address.target, ")"), errno);
          done = true;
          break;
        }
        absl::string_view d(buf.data(), static_cast<size_t>(n));
        absl::StatusOr<DatagramHeader> r = DatagramHeader::Parse(d);
        if (!r.ok() || r->conn_id != id) continue;
        if (r->kind == DatagramKind::kReset) {
          accepted = absl::UnavailableError(absl::StrCat("udp://", address.target, " refused the connection"));
          done = true;
          break;
        }
        if (r->kind != DatagramKind::kAccept) continue;
        accepted = HandshakePayload::Decode(d.substr(udp::kDatagramHeaderSize));
        if (!accepted.ok()) continue;
        done = true;
        break;
      }
    }
    if (!accepted.ok()) {
      last = accepted.status();
      if (last.code() == absl::StatusCode::kDeadlineExceeded) return last;
      continue;
    }
    const uint32_t fragment = std::min(mine.fragment, accepted->fragment);
    UdpConnection::Params p;
    p.role = UdpConnection::Role::kClient;
    p.fd = std::move(sock);
    p.conn_id = id;
    p.peer_description = absl::StrCat("udp://", FormatSockaddr(ai->ai_addr), " conn=", ConnIdHex(id));
    p.config = MakeConfig(*st, fragment, std::min(accepted->window, WindowFor(rcvbuf, fragment)),
                          mine.max_unit, accepted->max_unit, reassembly_in_use_);
    p.limits = limits;
    return std::unique_ptr<Connection>(new UdpConnection(std::move(p)));
  }
  return last;
}

UdpStats UdpConnectionStats(const Connection& conn) {
  const auto* c = dynamic_cast<const UdpConnection*>(&conn);
  return c == nullptr ? UdpStats{} : c->stats();
}

UdpStats UdpListenerStats(const Listener& listener) {
  const auto* l = dynamic_cast<const UdpListener*>(&listener);
  return l == nullptr ? UdpStats{} : l->stats();
}

}  // namespace ferry
