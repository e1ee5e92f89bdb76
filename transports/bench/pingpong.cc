// 64-byte ping-pong round trips: the raw mechanism (write/read on a plain socket) against
// StreamConnection over the same mechanism, for Unix sockets and TCP. The framed path
// should stay within 1.25x of the raw one.
//
// Usage: bazel run -c opt //transports/bench:pingpong -- [round_trips] [--one-cpu]
//
// On a 2-core VM the two-CPU numbers are bimodal (they depend on where the scheduler puts
// the two threads); --one-cpu pins the process to CPU 0, which gives stable numbers that
// show the per-frame CPU cost of the framing itself.
#include <arpa/inet.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "transports/stream/fd.h"
#include "transports/tcp/tcp_transport.h"
#include "transports/transport.h"
#include "transports/uds/uds_transport.h"

namespace ferry {
namespace {

constexpr size_t kPayload = 64;

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}
void CheckSys(bool ok, const char* what) {
  if (!ok) {
    std::perror(what);
    std::exit(1);
  }
}

void ReadFull(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, buf + got, n - got);
    CheckSys(r > 0, "read");
    got += static_cast<size_t>(r);
  }
}

double RawPingPong(int client, int server, int n) {
  std::thread echo([&] {
    char buf[kPayload];
    for (int i = 0; i < n; ++i) {
      ReadFull(server, buf, kPayload);
      CheckSys(::write(server, buf, kPayload) == kPayload, "write");
    }
  });
  char buf[kPayload] = {};
  const absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    CheckSys(::write(client, buf, kPayload) == kPayload, "write");
    ReadFull(client, buf, kPayload);
  }
  const absl::Duration d = absl::Now() - start;
  echo.join();
  return absl::ToDoubleMicroseconds(d) / n;
}

double FramedPingPong(Connection& client, Connection& server, int n) {
  std::thread echo([&] {
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<Frame> f = server.Receive(absl::InfiniteFuture());
      Check(f.status(), "server Receive");
      OutFrame out{f->header, f->payload};
      Check(server.Send({&out, 1}, absl::InfiniteFuture()), "server Send");
    }
  });
  const std::string payload(kPayload, 'p');
  OutFrame ping = MakeFrame(FrameType::kMessage, 0, 1, payload);
  const absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    Check(client.Send({&ping, 1}, absl::InfiniteFuture()), "client Send");
    Check(client.Receive(absl::InfiniteFuture()).status(), "client Receive");
  }
  const absl::Duration d = absl::Now() - start;
  echo.join();
  return absl::ToDoubleMicroseconds(d) / n;
}

// A connected pair of plain sockets through a real listener (not socketpair), so the raw
// run crosses the same kernel path as the transport.
struct RawPair {
  UniqueFd client, server;
};
RawPair RawUds(const std::string& path) {
  UniqueFd l(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  ::unlink(path.c_str());
  CheckSys(::bind(l.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0, "bind");
  CheckSys(::listen(l.get(), 1) == 0, "listen");
  RawPair p;
  absl::StatusOr<UniqueFd> c = ConnectUnixSocket(path, absl::InfiniteFuture());
  Check(c.status(), "raw connect");
  p.client = *std::move(c);
  p.server = UniqueFd(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ::unlink(path.c_str());
  return p;
}
RawPair RawTcp() {
  UniqueFd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CheckSys(::bind(l.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0, "bind");
  CheckSys(::listen(l.get(), 1) == 0, "listen");
  socklen_t len = sizeof(sa);
  ::getsockname(l.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  RawPair p;
  absl::StatusOr<UniqueFd> c =
      ConnectTcpSocket(absl::StrCat("127.0.0.1:", ntohs(sa.sin_port)), absl::InfiniteFuture());
  Check(c.status(), "raw connect");
  p.client = *std::move(c);
  p.server = UniqueFd(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  const int one = 1;
  ::setsockopt(p.server.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return p;
}

void Report(const char* name, RawPair raw, Transport& transport, const std::string& listen_at,
            int n) {
  auto listener = transport.Listen(*Address::Parse(listen_at), {});
  Check(listener.status(), "Listen");
  auto client = transport.Connect(*Address::Parse((*listener)->address()), {},
                                  absl::InfiniteFuture());
  Check(client.status(), "Connect");
  auto server = (*listener)->Accept();
  Check(server.status(), "Accept");
  // Warm up both, then alternate so drift in machine load hits both alike.
  RawPingPong(raw.client.get(), raw.server.get(), n / 10);
  FramedPingPong(**client, **server, n / 10);
  double raw_us = 0, framed_us = 0;
  for (int round = 0; round < 3; ++round) {
    raw_us += RawPingPong(raw.client.get(), raw.server.get(), n);
    framed_us += FramedPingPong(**client, **server, n);
  }
  std::printf("%-4s raw %6.2f us  framed %6.2f us  ratio %.2f\n", name, raw_us / 3,
              framed_us / 3, framed_us / raw_us);
}

}  // namespace
}  // namespace ferry

int main(int argc, char** argv) {
  int n = 20000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--one-cpu") == 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(0, &set);
      if (::sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity");
    } else if (!absl::SimpleAtoi(argv[i], &n) || n < 10) {
      std::fprintf(stderr, "usage: %s [round_trips] [--one-cpu]\n", argv[0]);
      return 2;
    }
  }
  char dir[] = "/tmp/ferry-bench-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return 1;
  ferry::UdsTransport uds;
  ferry::Report("unix", ferry::RawUds(std::string(dir) + "/raw.sock"), uds,
                std::string("unix:") + dir + "/framed.sock", n);
  ferry::TcpTransport tcp;
  ferry::Report("tcp", ferry::RawTcp(), tcp, "tcp://127.0.0.1:0", n);
  ::rmdir(dir);
  return 0;
}
