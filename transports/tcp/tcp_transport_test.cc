#include "transports/tcp/tcp_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "transports/testing/transport_conformance.h"

namespace ferry {
namespace {

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

// "" if this machine can bind the IPv6 loopback address, else why not.
std::string NoIpv6Loopback() {
  UniqueFd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return "no IPv6 on this machine (socket(AF_INET6) failed)";
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_addr = in6addr_loopback;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return "no IPv6 loopback on this machine (cannot bind [::1])";
  }
  return "";
}

TransportConformanceParam TcpParam(std::string name, std::string listen) {
  TransportConformanceParam p;
  p.name = std::move(name);
  p.make_transport = [] { return std::make_unique<TcpTransport>(); };
  p.listen_address = [listen](const std::string&) { return listen; };
  p.raw_connect = [](const std::string& address) -> absl::StatusOr<UniqueFd> {
    absl::StatusOr<Address> a = Address::Parse(address);
    if (!a.ok()) return a.status();
    return ConnectTcpSocket(a->target, Soon());
  };
  return p;
}

TransportConformanceParam Tcp6Param() {
  TransportConformanceParam p = TcpParam("Tcp6", "tcp://[::1]:0");
  p.skip_reason = NoIpv6Loopback;
  return p;
}

INSTANTIATE_TEST_SUITE_P(Tcp, TransportConformanceTest,
                         ::testing::Values(TcpParam("Tcp4", "tcp://127.0.0.1:0"), Tcp6Param()),
                         TransportConformanceName);

// ---- The mechanism --------------------------------------------------------------------

uint16_t PortOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(colon + 1), &port)) << address;
  return static_cast<uint16_t>(port);
}

TEST(TcpTransportTest, PortZeroIsResolvedInAddress) {
  TcpTransport tcp;
  auto listener = tcp.Listen(*Address::Parse("tcp://127.0.0.1:0"), {});
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string address = (*listener)->address();
  EXPECT_TRUE(absl::StartsWith(address, "tcp://127.0.0.1:")) << address;
  EXPECT_NE(PortOf(address), 0) << address;
  auto client = tcp.Connect(*Address::Parse(address), {}, Soon());
  ASSERT_TRUE(client.ok()) << client.status();
  auto server = (*listener)->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(absl::StartsWith((*server)->PeerDescription(), "tcp://127.0.0.1:"))
      << (*server)->PeerDescription();
  EXPECT_EQ((*client)->PeerDescription(), address);
}

TEST(TcpTransportTest, Ipv6LoopbackInBrackets) {
  const std::string why = NoIpv6Loopback();
  if (!why.empty()) GTEST_SKIP() << why;
  TcpTransport tcp;
  auto listener = tcp.Listen(*Address::Parse("tcp://[::1]:0"), {});
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string address = (*listener)->address();
  EXPECT_TRUE(absl::StartsWith(address, "tcp://[::1]:")) << address;
  EXPECT_NE(PortOf(address), 0);
  auto client = tcp.Connect(*Address::Parse(address), {}, Soon());
  ASSERT_TRUE(client.ok()) << client.status();
  auto server = (*listener)->Accept();
  ASSERT_TRUE(server.ok());
  OutFrame f = MakeFrame(FrameType::kPing, 0, 0, "v6");
  ASSERT_TRUE((*client)->Send({&f, 1}, Soon()).ok());
  absl::StatusOr<Frame> got = (*server)->Receive(Soon());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, "v6");
}

TEST(TcpTransportTest, WildcardListenerIsReachableOnLoopback) {
  TcpTransport tcp;
  auto listener = tcp.Listen(*Address::Parse("tcp://0.0.0.0:0"), {});
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string address = (*listener)->address();
  EXPECT_TRUE(absl::StartsWith(address, "tcp://0.0.0.0:")) << address;
  auto client = tcp.Connect(
      *Address::Parse(absl::StrCat("tcp://127.0.0.1:", PortOf(address))), {}, Soon());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*listener)->Accept().ok());
}

TEST(TcpTransportTest, LocalhostByName) {
  TcpTransport tcp;
  auto listener = tcp.Listen(*Address::Parse("tcp://localhost:0"), {});
  ASSERT_TRUE(listener.ok()) << listener.status();
  const uint16_t port = PortOf((*listener)->address());
  // "localhost" may resolve to ::1 and 127.0.0.1; Connect tries each until one answers.
  auto client = tcp.Connect(*Address::Parse(absl::StrCat("tcp://localhost:", port)), {}, Soon());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*listener)->Accept().ok());
}

TEST(TcpTransportTest, ConnectToAClosedPortIsUnavailable) {
  // Find a port nobody listens on: bind one, then close it.
  uint16_t port = 0;
  {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
    port = ntohs(sa.sin_port);
  }
  TcpTransport tcp;
  auto conn = tcp.Connect(*Address::Parse(absl::StrCat("tcp://127.0.0.1:", port)), {}, Soon());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable) << conn.status();
}

TEST(TcpTransportTest, ExpiredDeadlineIsDeadlineExceeded) {
  TcpTransport tcp;
  auto listener = tcp.Listen(*Address::Parse("tcp://127.0.0.1:0"), {});
  ASSERT_TRUE(listener.ok());
  auto conn = tcp.Connect(*Address::Parse((*listener)->address()), {}, absl::InfinitePast());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kDeadlineExceeded) << conn.status();
}

TEST(TcpTransportTest, PortInUseIsAlreadyExistsAndReuseAddrAllowsQuickRebind) {
  TcpTransport tcp;
  auto first = tcp.Listen(*Address::Parse("tcp://127.0.0.1:0"), {});
  ASSERT_TRUE(first.ok());
  const std::string address = (*first)->address();
  // Leave a connection in TIME_WAIT on the port: the server side closes first.
  {
    auto client = tcp.Connect(*Address::Parse(address), {}, Soon());
    ASSERT_TRUE(client.ok());
    auto server = (*first)->Accept();
    ASSERT_TRUE(server.ok());
    (*server)->Close();
    EXPECT_EQ((*client)->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  }
  auto second = tcp.Listen(*Address::Parse(address), {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  (*first)->Close();
  auto again = tcp.Listen(*Address::Parse(address), {});
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST(TcpTransportTest, MalformedAddressesAreInvalidArgument) {
  TcpTransport tcp;
  for (const char* bad : {"tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://127.0.0.1:65536",
                          "tcp://127.0.0.1:-1", "tcp://127.0.0.1:8x", "tcp://::1:5000",
                          "tcp://[::1:5000", "tcp://[::1]5000", "tcp://:5000",
                          "tcp://127.0.0.1:0?nodelay=0"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<Address> addr = Address::Parse(bad);
    ASSERT_TRUE(addr.ok()) << addr.status();
    EXPECT_EQ(tcp.Listen(*addr, {}).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tcp.Connect(*addr, {}, Soon()).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(TcpTransportTest, AcceptSkipsAPeerThatResetDuringSetUp) {
  TcpTransport tcp;
  auto listener = tcp.Listen(*Address::Parse("tcp://127.0.0.1:0"), {});
  ASSERT_TRUE(listener.ok());
  const Address addr = *Address::Parse((*listener)->address());
  // A peer that connects and resets before it is accepted.
  {
    absl::StatusOr<UniqueFd> doomed = ConnectTcpSocket(addr.target, Soon());
    ASSERT_TRUE(doomed.ok()) << doomed.status();
    const linger reset{1, 0};
    ASSERT_EQ(::setsockopt(doomed->get(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
  }
  absl::SleepFor(absl::Milliseconds(20));  // let the reset reach the queued socket
  auto good = tcp.Connect(addr, {}, Soon());
  ASSERT_TRUE(good.ok()) << good.status();
  OutFrame f = MakeFrame(FrameType::kPing, 0, 0, "survivor");
  ASSERT_TRUE((*good)->Send({&f, 1}, Soon()).ok());
  // Accept() does not report the reset peer; it hands out the good one.
  auto server = (*listener)->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<Frame> got = (*server)->Receive(Soon());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, "survivor");
}

TEST(TcpTransportTest, ParseTcpTarget) {
  absl::StatusOr<TcpHostPort> hp = ParseTcpTarget("[::1]:5000");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 5000);
  hp = ParseTcpTarget("localhost:65535");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "localhost");
  EXPECT_EQ(hp->port, 65535);
}

TEST(TcpTransportTest, ConnectedSocketHasNagleOff) {
  TcpTransport tcp;
  auto listener = tcp.Listen(*Address::Parse("tcp://127.0.0.1:0"), {});
  ASSERT_TRUE(listener.ok());
  // The raw client is what TcpTransport::Connect builds on.
  absl::StatusOr<UniqueFd> raw =
      ConnectTcpSocket((*Address::Parse((*listener)->address())).target, Soon());
  ASSERT_TRUE(raw.ok()) << raw.status();
  int nodelay = 0;
  socklen_t len = sizeof(nodelay);
  ASSERT_EQ(::getsockopt(raw->get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_NE(nodelay, 0);
}

}  // namespace
}  // namespace ferry
