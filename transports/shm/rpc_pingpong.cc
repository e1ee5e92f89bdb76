// Whole Ferry RPCs (runtime + stubs) over shm against the raw ring, two processes: how
// much the runtime adds on top of the transport. A diagnostic, not the benchmark (that is
// ferry-bench): it reuses the conformance service (Echo) and its server binary, hence
// testonly.
//
// Usage: bazel run -c opt //transports/shm:rpc_pingpong -- [--wakes=spin,futex]
//            [--round_trips=20000] [--big_round_trips=200] [--pin] [--also=unix]
//
// --pin puts this process on CPU 0 and the server on CPU 1.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "runtime/channel.h"
#include "tests/conformance/conformance_service.h"
#include "transports/default_transports.h"
#include "transports/shm/peer_process.h"
#include "transports/shm/raw_shm.h"
#include "transports/shm/shm_wait.h"

ABSL_FLAG(std::string, wakes, "spin,futex", "shm wake-up modes to measure");
ABSL_FLAG(int, round_trips, 20000, "64-byte calls per measurement");
ABSL_FLAG(int, big_round_trips, 200, "1 MiB calls per measurement");
ABSL_FLAG(bool, pin, false, "pin this process to CPU 0 and the servers to CPU 1");
ABSL_FLAG(std::string, also, "unix", "other transports to measure: unix (or empty)");
ABSL_FLAG(std::string, connect, "",
          "measure only Ferry RPCs to a server already listening here (e.g. one run under "
          "valgrind --tool=callgrind)");

namespace ferry {
namespace {

using shm::testing::PeerProcess;

void Die(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

struct Numbers {
  double p50_us = 0, p99_us = 0, mb_s = 0;
};

template <typename Fn>
Numbers Measure(Fn&& call) {
  const std::string small(64, 's'), big(1 << 20, 'b');
  const int n = absl::GetFlag(FLAGS_round_trips);
  for (int i = 0; i < n / 10; ++i) call(small);
  std::vector<int64_t> ns(n);
  for (int i = 0; i < n; ++i) {
    const int64_t start = shm::NowNs();
    call(small);
    ns[i] = shm::NowNs() - start;
  }
  std::sort(ns.begin(), ns.end());
  Numbers r;
  r.p50_us = ns[n / 2] / 1e3;
  r.p99_us = ns[n * 99 / 100] / 1e3;
  const int big_n = absl::GetFlag(FLAGS_big_round_trips);
  for (int i = 0; i < std::max(1, big_n / 10); ++i) call(big);
  const int64_t start = shm::NowNs();
  for (int i = 0; i < big_n; ++i) call(big);
  r.mb_s = static_cast<double>(big.size()) * big_n / ((shm::NowNs() - start) / 1e9) / 1e6;
  return r;
}

// Pins the child by running it under taskset-like affinity: the child inherits ours, so
// set CPU 1 around the spawn and go back to CPU 0.
void Pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::sched_setaffinity(0, sizeof(set), &set);
}

absl::StatusOr<PeerProcess> StartServer(const std::string& binary, std::vector<std::string> args) {
  if (absl::GetFlag(FLAGS_pin)) Pin(1);
  absl::StatusOr<PeerProcess> p = PeerProcess::Start(binary, std::move(args));
  if (absl::GetFlag(FLAGS_pin)) Pin(0);
  return p;
}

Numbers FerryRpc(const std::string& address) {
  PeerProcess server_process;
  std::string bound = absl::GetFlag(FLAGS_connect);
  if (bound.empty()) {
    absl::StatusOr<PeerProcess> server =
        StartServer("tests/conformance/conformance_server", {"--address=" + address});
    if (!server.ok()) Die(server.status(), "server");
    bound = server->line().substr(std::string("listening on ").size());
    server_process = *std::move(server);
  }
  auto channel = Channel::Create(bound, DefaultTransports());
  if (!channel.ok()) Die(channel.status(), "channel");
  conformance::Conformance::Stub stub(*channel);
  conformance::EchoRequest req;
  conformance::EchoReply reply;
  return Measure([&](const std::string& payload) {
    ClientContext ctx;
    req.set_payload(payload);
    absl::Status s = (*channel)->Call(ctx, "/ferry.conformance.Conformance/Echo", req, &reply);
    if (!s.ok()) Die(s, "echo");
  });
}

Numbers RawRing(const std::string& address) {
  absl::StatusOr<PeerProcess> server =
      StartServer("transports/shm/raw_shm_echo", {"--address=" + address});
  if (!server.ok()) Die(server.status(), "raw server");
  const std::string bound = server->line().substr(std::string("listening on ").size());
  auto client = shm::RawShmConnect(bound, absl::Now() + absl::Seconds(10));
  if (!client.ok()) Die(client.status(), "raw connect");
  std::string reply;
  return Measure([&](const std::string& payload) {
    if (absl::Status s = (*client)->RoundTrip(payload, &reply); !s.ok()) Die(s, "raw");
  });
}

void Print(const std::string& what, const Numbers& n, const Numbers* floor) {
  std::printf("%-28s 64 B p50 %7.2f us  p99 %7.2f us", what.c_str(), n.p50_us, n.p99_us);
  if (floor != nullptr) std::printf(" (%5.2fx raw)", n.p50_us / floor->p50_us);
  std::printf(" | 1 MiB %7.0f MB/s", n.mb_s);
  if (floor != nullptr) std::printf(" (%4.2fx raw)", n.mb_s / floor->mb_s);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace
}  // namespace ferry

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_pin)) ferry::Pin(0);
  if (!absl::GetFlag(FLAGS_connect).empty()) {
    ferry::Print(absl::GetFlag(FLAGS_connect), ferry::FerryRpc(""), nullptr);
    return 0;
  }
  const std::string token = absl::StrCat(::getpid());
  int n = 0;
  for (absl::string_view wake :
       absl::StrSplit(absl::GetFlag(FLAGS_wakes), ',', absl::SkipEmpty())) {
    const std::string options = absl::StrCat("?wake=", wake);
    const ferry::Numbers raw =
        ferry::RawRing(absl::StrCat("shm://rpcpp-raw-", token, "-", n++, options));
    ferry::Print(absl::StrCat("raw ring  wake=", wake), raw, nullptr);
    const ferry::Numbers rpc =
        ferry::FerryRpc(absl::StrCat("shm://rpcpp-", token, "-", n++, options));
    ferry::Print(absl::StrCat("ferry rpc wake=", wake), rpc, &raw);
  }
  if (absl::GetFlag(FLAGS_also) == "unix") {
    const ferry::Numbers uds = ferry::FerryRpc(absl::StrCat("unix:/tmp/rpcpp-", token, ".sock"));
    ferry::Print("ferry rpc unix", uds, nullptr);
  }
  return 0;
}
