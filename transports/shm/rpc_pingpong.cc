// Whole Ferry RPCs (runtime + stubs) over shm against the raw ring, two processes: how
// much the runtime adds on top of the transport. Beside them, Echo's protobuf work
// (serialize, parse, the handler's copy) alone on one thread: raw plus it bounds any
// protobuf RPC over this ring from below (the raw ring carrying that work end to end is
// ferry-bench's rawpb row). A diagnostic, not the benchmark (that is ferry-bench): it
// reuses the conformance service (Echo) and its server binary, hence testonly.
//
// Usage: bazel run -c opt //transports/shm:rpc_pingpong -- [--wakes=spin,futex]
//            [--round_trips=20000] [--big_round_trips=200] [--pin] [--also=unix]
//
// --pin puts this process on CPU 0 and the server on CPU 1.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
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

// The two placements of this VM's vCPUs change the cost of a cache-line transfer several
// times over, and they can change from one second to the next: measured one after the
// other, raw and Ferry may each get a different one. So they take turns, a batch of calls
// each, and each side's figures pool its batches. The server whose turn it is not is
// stopped (SIGSTOP), so a spinning one does not take the CPU from the other.
// One implementation being measured: its call and its server's pid (0: none of ours).
struct Side {
  std::function<void(const std::string&)> call;
  pid_t server = 0;
};

std::vector<Numbers> MeasureInTurns(const std::vector<Side>& sides) {
  const size_t k = sides.size();
  auto run_only = [&](size_t side) {
    if (sides[side].server > 0) ::kill(sides[side].server, SIGCONT);
    for (size_t other = 0; other < k; ++other) {
      if (other != side && sides[other].server > 0) ::kill(sides[other].server, SIGSTOP);
    }
  };
  const std::string small(64, 's'), big(1 << 20, 'b');
  const int n = absl::GetFlag(FLAGS_round_trips);
  const int big_n = absl::GetFlag(FLAGS_big_round_trips);
  const int turns = k > 1 ? 20 : 1;
  for (size_t side = 0; side < k; ++side) {
    run_only(side);
    for (int i = 0; i < n / 10; ++i) sides[side].call(small);
    for (int i = 0; i < std::max(1, big_n / 10); ++i) sides[side].call(big);
  }
  std::vector<std::vector<int64_t>> ns(k);
  std::vector<int64_t> big_ns(k, 0);
  std::vector<int> big_calls(k, 0);
  for (int turn = 0; turn < turns; ++turn) {
    for (size_t side = 0; side < k; ++side) {
      run_only(side);
      const auto& call = sides[side].call;
      if (turns > 1) {
        // Unmeasured: the first calls after a switch find the other side's lines in the
        // caches and a server just woken from SIGSTOP.
        for (int i = 0; i < n / turns / 10; ++i) call(small);
        if (big_n > 0) call(big);
      }
      for (int i = 0; i < n / turns; ++i) {
        const int64_t start = shm::NowNs();
        call(small);
        ns[side].push_back(shm::NowNs() - start);
      }
      const int64_t start = shm::NowNs();
      for (int i = 0; i < big_n / turns; ++i) call(big);
      big_ns[side] += shm::NowNs() - start;
      big_calls[side] += big_n / turns;
    }
  }
  for (const Side& side : sides) {
    if (side.server > 0) ::kill(side.server, SIGCONT);
  }
  std::vector<Numbers> r(k);
  for (size_t side = 0; side < k; ++side) {
    std::sort(ns[side].begin(), ns[side].end());
    r[side].p50_us = ns[side][ns[side].size() / 2] / 1e3;
    r[side].p99_us = ns[side][ns[side].size() * 99 / 100] / 1e3;
    r[side].mb_s = big_ns[side] > 0 ? static_cast<double>(big.size()) * big_calls[side] /
                                          (big_ns[side] / 1e9) / 1e6
                                    : 0;
  }
  return r;
}

template <typename Echo>
Side SideOf(Echo& echo) {
  return Side{[&echo](const std::string& p) { echo(p); }, echo.server_process.pid()};
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

// A Ferry channel to the conformance server (started on `address`, or --connect) and
// its Echo call.
struct FerryEcho {
  PeerProcess server_process;
  std::shared_ptr<Channel> channel;
  conformance::EchoRequest req;
  conformance::EchoReply reply;

  explicit FerryEcho(const std::string& address) {
    std::string bound = absl::GetFlag(FLAGS_connect);
    if (bound.empty()) {
      absl::StatusOr<PeerProcess> server =
          StartServer("tests/conformance/conformance_server", {"--address=" + address});
      if (!server.ok()) Die(server.status(), "server");
      bound = server->line().substr(std::string("listening on ").size());
      server_process = *std::move(server);
    }
    auto c = Channel::Create(bound, DefaultTransports());
    if (!c.ok()) Die(c.status(), "channel");
    channel = *std::move(c);
  }
  void operator()(const std::string& payload) {
    ClientContext ctx;
    req.set_payload(payload);
    absl::Status s = channel->Call(ctx, "/ferry.conformance.Conformance/Echo", req, &reply);
    if (!s.ok()) Die(s, "echo");
  }
};

// The raw ring's echo (raw_shm_echo started on `address`).
struct RawEcho {
  PeerProcess server_process;
  std::unique_ptr<shm::RawShmEndpoint> client;
  std::string reply;

  explicit RawEcho(const std::string& address) {
    absl::StatusOr<PeerProcess> server =
        StartServer("transports/shm/raw_shm_echo", {"--address=" + address});
    if (!server.ok()) Die(server.status(), "raw server");
    const std::string bound = server->line().substr(std::string("listening on ").size());
    auto c = shm::RawShmConnect(bound, absl::Now() + absl::Seconds(10));
    if (!c.ok()) Die(c.status(), "raw connect");
    client = *std::move(c);
    server_process = *std::move(server);
  }
  void operator()(const std::string& payload) {
    if (absl::Status s = client->RoundTrip(payload, &reply); !s.ok()) Die(s, "raw");
  }
};

// The protobuf work of one 64-byte Echo call on one thread, with warm caches and no
// transport: serialize the request into an array, parse it, copy the payload into the
// reply (the handler), serialize the reply, parse it. Ferry does each of these once per
// call (in place in the ring), so the raw round trip plus this is a floor for any
// protobuf RPC over the ring. Nanoseconds per call, the median of 20 batches.
double ProtobufWorkNs() {
  conformance::EchoRequest req, server_req;
  conformance::EchoReply server_reply, reply;
  req.set_payload(std::string(64, 's'));
  std::string wire(256, '\0');
  auto* buf = reinterpret_cast<uint8_t*>(&wire[0]);
  constexpr int kCalls = 20000;
  std::vector<double> batches;
  for (int batch = 0; batch < 20; ++batch) {
    const int64_t start = shm::NowNs();
    for (int i = 0; i < kCalls; ++i) {
      const size_t n = req.ByteSizeLong();
      req.SerializeWithCachedSizesToArray(buf);
      if (!server_req.ParseFromArray(buf, static_cast<int>(n))) std::abort();
      server_reply.set_payload(server_req.payload());
      const size_t m = server_reply.ByteSizeLong();
      server_reply.SerializeWithCachedSizesToArray(buf);
      if (!reply.ParseFromArray(buf, static_cast<int>(m))) std::abort();
    }
    batches.push_back(static_cast<double>(shm::NowNs() - start) / kCalls);
  }
  std::sort(batches.begin(), batches.end());
  return batches[batches.size() / 2];
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
    ferry::FerryEcho echo("");
    ferry::Print(absl::GetFlag(FLAGS_connect), ferry::MeasureInTurns({ferry::SideOf(echo)})[0],
                 nullptr);
    return 0;
  }
  const std::string token = absl::StrCat(::getpid());
  int n = 0;
  for (absl::string_view wake :
       absl::StrSplit(absl::GetFlag(FLAGS_wakes), ',', absl::SkipEmpty())) {
    const std::string options = absl::StrCat("?wake=", wake);
    ferry::RawEcho raw(absl::StrCat("shm://rpcpp-raw-", token, "-", n++, options));
    ferry::FerryEcho rpc(absl::StrCat("shm://rpcpp-", token, "-", n++, options));
    const std::vector<ferry::Numbers> r =
        ferry::MeasureInTurns({ferry::SideOf(raw), ferry::SideOf(rpc)});
    ferry::Print(absl::StrCat("raw ring  wake=", wake), r[0], nullptr);
    ferry::Print(absl::StrCat("ferry rpc wake=", wake), r[1], &r[0]);
    const double proto_ns = ferry::ProtobufWorkNs();
    std::printf("protobuf work alone (one thread, in place): %.0f ns; raw + that = %.2fx raw\n",
                proto_ns, (r[0].p50_us * 1e3 + proto_ns) / (r[0].p50_us * 1e3));
  }
  if (absl::GetFlag(FLAGS_also) == "unix") {
    ferry::FerryEcho uds(absl::StrCat("unix:/tmp/rpcpp-", token, ".sock"));
    ferry::Print("ferry rpc unix", ferry::MeasureInTurns({ferry::SideOf(uds)})[0], nullptr);
  }
  return 0;
}
