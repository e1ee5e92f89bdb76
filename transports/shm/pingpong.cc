// Ping-pong over the shm rings, two processes: the raw ring (raw_shm.h: an 8-byte header
// and the payload) against Ferry frames over ShmConnection (a unary call's frames:
// CALL_START + MESSAGE one way, MESSAGE + CALL_END back, with no runtime), for each
// wake-up mode. Reports 64-byte round-trip latency (p50, p99, mean) and 1 MiB echo
// bandwidth (payload bytes echoed per second).
//
// Usage: bazel run -c opt //transports/shm:pingpong -- [--wakes=spin,futex,eventfd,signal]
//            [--backing=memfd] [--round_trips=20000] [--big_round_trips=200] [--pin]
//
// Each echo server runs in its own child process (this binary, re-executed with
// --serve_raw or --serve_framed), started for its measurement and stopped after it.
// --pin puts the client on CPU 0 and the server on CPU 1: on a 2-core machine a spinning
// client and a spinning server each need a core of their own.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "runtime/frame.h"
#include "transports/shm/raw_shm.h"
#include "transports/shm/shm_transport.h"
#include "transports/shm/shm_wait.h"

ABSL_FLAG(std::string, wakes, "spin,futex,eventfd,signal", "wake-up modes to measure");
ABSL_FLAG(std::string, backing, "memfd", "segment backing: memfd, shm or file");
ABSL_FLAG(std::string, ring, "", "ring size option (e.g. 4m); empty for the default");
ABSL_FLAG(int, round_trips, 20000, "64-byte round trips per measurement");
ABSL_FLAG(int, big_round_trips, 200, "1 MiB round trips per measurement");
ABSL_FLAG(bool, pin, false, "pin the client to CPU 0 and the server to CPU 1");
ABSL_FLAG(bool, cpu_cost, false,
          "also run both ends on one thread (nobody ever waits): the software cost of a "
          "64-byte round trip, raw vs framed, without cache-line transfers between cores");
ABSL_FLAG(bool, cpu_cost_only, false, "only the one-thread cost (for profilers)");
ABSL_FLAG(std::string, serve_raw, "", "internal: serve the raw echo on this address");
ABSL_FLAG(std::string, serve_framed, "", "internal: serve the framed echo on this address");
ABSL_FLAG(int, cpu, -1, "internal: pin this process to the CPU");

extern char** environ;

namespace ferry::shm {
namespace {

void Die(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

void Pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity");
}

// ---- The child: echo servers ------------------------------------------------------------

void ServeFramed(Connection* conn) {
  std::string end;
  EncodeCallEnd(absl::OkStatus(), {}, &end);
  uint32_t id = 0;
  for (;;) {
    absl::StatusOr<Frame> f = conn->Receive(absl::InfiniteFuture());
    if (!f.ok()) return;
    if (f->header.type == FrameType::kCallStart) {
      id = f->header.call_id;
      continue;
    }
    // The payload view stays valid until the next Receive(), so it is echoed in place.
    const OutFrame out[2] = {MakeFrame(FrameType::kMessage, 0, id, f->payload),
                             MakeFrame(FrameType::kCallEnd, 0, id, end)};
    if (!conn->Send(out, absl::InfiniteFuture()).ok()) return;
  }
}

// Serves one kind only: in spin mode an idle server thread spins on its core, so a raw and
// a framed server in one process would steal each other's CPU.
int Serve() {
  Pin(absl::GetFlag(FLAGS_cpu));
  if (!absl::GetFlag(FLAGS_serve_raw).empty()) {
    auto raw = RawShmEchoServer::Start(absl::GetFlag(FLAGS_serve_raw));
    if (!raw.ok()) Die(raw.status(), "raw server");
    std::printf("ready\n");
    std::fflush(stdout);
    char c;
    while (::read(0, &c, 1) > 0) {
    }  // until the parent closes our stdin (or dies)
    (*raw)->Shutdown();
    return 0;
  }
  ShmTransport shm;
  auto listener = shm.Listen(*Address::Parse(absl::GetFlag(FLAGS_serve_framed)), {});
  if (!listener.ok()) Die(listener.status(), "framed listener");
  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<std::thread> threads;
  std::thread acceptor([&] {
    for (;;) {
      auto conn = (*listener)->Accept();
      if (!conn.ok()) return;
      conns.push_back(*std::move(conn));
      threads.emplace_back(ServeFramed, conns.back().get());
    }
  });
  std::printf("ready\n");
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }  // until the parent closes our stdin (or dies)
  (*listener)->Close();
  acceptor.join();
  for (auto& conn : conns) conn->Close();
  for (auto& t : threads) t.join();
  return 0;
}

// ---- The parent: measurements -----------------------------------------------------------

struct Child {
  pid_t pid = -1;
  int stdin_fd = -1;
};

// `flag` is "--serve_raw=<address>" or "--serve_framed=<address>".
Child SpawnServer(const std::string& flag, int cpu) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) std::exit(1);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<std::string> args = {"pingpong", flag, absl::StrCat("--cpu=", cpu)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  Child c;
  if (posix_spawn(&c.pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ) != 0) {
    std::perror("posix_spawn");
    std::exit(1);
  }
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  c.stdin_fd = in[1];
  char buf[16] = {};
  if (::read(out[0], buf, sizeof(buf)) <= 0) {
    std::fprintf(stderr, "server did not start\n");
    std::exit(1);
  }
  ::close(out[0]);
  return c;
}

void StopServer(Child& c) {
  ::close(c.stdin_fd);
  int status;
  ::waitpid(c.pid, &status, 0);
}

struct Latency {
  double p50_us = 0, p99_us = 0, mean_us = 0;
};

template <typename Fn>
Latency Measure(int n, Fn&& round_trip) {
  for (int i = 0; i < n / 10; ++i) round_trip();  // warm up
  std::vector<int64_t> ns(n);
  for (int i = 0; i < n; ++i) {
    const int64_t start = NowNs();
    round_trip();
    ns[i] = NowNs() - start;
  }
  int64_t sum = 0;
  for (int64_t v : ns) sum += v;
  std::sort(ns.begin(), ns.end());
  return {ns[n / 2] / 1e3, ns[n * 99 / 100] / 1e3, static_cast<double>(sum) / n / 1e3};
}

template <typename Fn>
double Bandwidth(int n, size_t size, Fn&& round_trip) {
  for (int i = 0; i < std::max(1, n / 10); ++i) round_trip();
  const int64_t start = NowNs();
  for (int i = 0; i < n; ++i) round_trip();
  const double seconds = (NowNs() - start) / 1e9;
  return static_cast<double>(size) * n / seconds / 1e6;
}

struct Result {
  Latency small;
  double big_mb_s = 0;
};

// One server process per measurement (see Serve()).
template <typename MakeRoundTrip>
Result MeasureOne(const std::string& serve_flag, MakeRoundTrip&& make) {
  Child child = SpawnServer(serve_flag, absl::GetFlag(FLAGS_pin) ? 1 : -1);
  const std::string small(64, 's');
  const std::string big(1 << 20, 'b');
  Result r;
  {
    auto small_rt = make(small);
    r.small = Measure(absl::GetFlag(FLAGS_round_trips), small_rt);
    auto big_rt = make(big);
    r.big_mb_s = Bandwidth(absl::GetFlag(FLAGS_big_round_trips), big.size(), big_rt);
  }
  StopServer(child);
  return r;
}

void Run(const std::string& wake, int index) {
  const std::string options =
      absl::StrCat("?backing=", absl::GetFlag(FLAGS_backing), "&wake=", wake,
                   absl::GetFlag(FLAGS_ring).empty() ? "" : "&ring=", absl::GetFlag(FLAGS_ring));
  const std::string raw_addr = absl::StrCat("shm://pingpong-raw-", ::getpid(), "-", index, options);
  const std::string framed_addr =
      absl::StrCat("shm://pingpong-framed-", ::getpid(), "-", index, options);
  std::string reply;
  std::unique_ptr<RawShmEndpoint> raw;
  const Result raw_result = MeasureOne("--serve_raw=" + raw_addr, [&](const std::string& payload) {
    if (raw == nullptr) {
      auto c = RawShmConnect(raw_addr, absl::Now() + absl::Seconds(10));
      if (!c.ok()) Die(c.status(), "raw connect");
      raw = *std::move(c);
    }
    return [&raw, &reply, &payload] {
      if (absl::Status s = raw->RoundTrip(payload, &reply); !s.ok()) Die(s, "raw");
    };
  });
  raw->Shutdown();

  ShmTransport shm;
  std::unique_ptr<Connection> framed;
  std::string start_payload;
  EncodeCallStart("/ferry.bench.Bench/Echo", 1'000'000, {}, &start_payload);
  uint32_t id = 0;
  const Result framed_result =
      MeasureOne("--serve_framed=" + framed_addr, [&](const std::string& payload) {
        if (framed == nullptr) {
          auto c = shm.Connect(*Address::Parse(framed_addr), {}, absl::Now() + absl::Seconds(10));
          if (!c.ok()) Die(c.status(), "framed connect");
          framed = *std::move(c);
        }
        return [&] {
          ++id;
          const OutFrame out[2] = {MakeFrame(FrameType::kCallStart, 0, id, start_payload),
                                   MakeFrame(FrameType::kMessage, kFlagEndOfStream, id, payload)};
          if (absl::Status s = framed->Send(out, absl::InfiniteFuture()); !s.ok()) Die(s, "send");
          for (int i = 0; i < 2; ++i) {
            absl::StatusOr<Frame> f = framed->Receive(absl::InfiniteFuture());
            if (!f.ok()) Die(f.status(), "receive");
          }
        };
      });
  framed->Close();

  const Latency& rl = raw_result.small;
  const Latency& fl = framed_result.small;
  std::printf(
      "%-8s 64 B  raw p50 %6.2f us p99 %6.2f mean %6.2f | framed p50 %6.2f us p99 %6.2f "
      "mean %6.2f | p50 ratio %.2f\n",
      wake.c_str(), rl.p50_us, rl.p99_us, rl.mean_us, fl.p50_us, fl.p99_us, fl.mean_us,
      fl.p50_us / rl.p50_us);
  std::printf("%-8s 1 MiB raw %8.0f MB/s | framed %8.0f MB/s | ratio %.2f\n", wake.c_str(),
              raw_result.big_mb_s, framed_result.big_mb_s,
              framed_result.big_mb_s / raw_result.big_mb_s);
  std::fflush(stdout);
}

// Both ends on this thread: every Receive finds its data already there, so the time is
// the instructions of the two paths (plus same-core cache hits), nothing else.
void CpuCost(const std::string& wake) {
  const std::string options =
      absl::StrCat("?backing=", absl::GetFlag(FLAGS_backing), "&wake=", wake);
  const absl::Time soon = absl::Now() + absl::Seconds(10);
  auto raw_listener =
      RawShmListener::Listen(absl::StrCat("shm://cpucost-raw-", ::getpid(), options));
  if (!raw_listener.ok()) Die(raw_listener.status(), "raw listen");
  auto raw_client = RawShmConnect((*raw_listener)->address(), soon);
  if (!raw_client.ok()) Die(raw_client.status(), "raw connect");
  auto raw_server = (*raw_listener)->Accept();
  if (!raw_server.ok()) Die(raw_server.status(), "raw accept");
  ShmTransport shm;
  auto listener =
      shm.Listen(*Address::Parse(absl::StrCat("shm://cpucost-", ::getpid(), options)), {});
  if (!listener.ok()) Die(listener.status(), "listen");
  auto client = shm.Connect(*Address::Parse((*listener)->address()), {}, soon);
  if (!client.ok()) Die(client.status(), "connect");
  auto server = (*listener)->Accept();
  if (!server.ok()) Die(server.status(), "accept");

  const std::string small(64, 's');
  std::string buf, reply, start_payload, end_payload;
  EncodeCallStart("/ferry.bench.Bench/Echo", 1'000'000, {}, &start_payload);
  EncodeCallEnd(absl::OkStatus(), {}, &end_payload);
  const int n = absl::GetFlag(FLAGS_round_trips) * 10;
  auto time_it = [n](auto&& fn) {
    for (int i = 0; i < n / 10; ++i) fn(i);
    const int64_t start = NowNs();
    for (int i = 0; i < n; ++i) fn(i);
    return (NowNs() - start) / static_cast<double>(n);
  };
  const double raw_ns = time_it([&](int) {
    (void)(*raw_client)->Send(0, small);
    absl::StatusOr<uint32_t> tag = (*raw_server)->Receive(&buf);
    (void)(*raw_server)->Send(*tag, buf);
    (void)(*raw_client)->Receive(&reply);
  });
  const double framed_ns = time_it([&](int i) {
    const uint32_t id = static_cast<uint32_t>(i) + 1;
    const OutFrame req[2] = {MakeFrame(FrameType::kCallStart, 0, id, start_payload),
                             MakeFrame(FrameType::kMessage, kFlagEndOfStream, id, small)};
    (void)(*client)->Send(req, absl::InfiniteFuture());
    (void)(*server)->Receive(absl::InfiniteFuture());
    absl::StatusOr<Frame> msg = (*server)->Receive(absl::InfiniteFuture());
    const OutFrame rep[2] = {MakeFrame(FrameType::kMessage, 0, id, msg->payload),
                             MakeFrame(FrameType::kCallEnd, 0, id, end_payload)};
    (void)(*server)->Send(rep, absl::InfiniteFuture());
    (void)(*client)->Receive(absl::InfiniteFuture());
    (void)(*client)->Receive(absl::InfiniteFuture());
  });
  std::printf("%-8s one-thread cost of a 64 B round trip: raw %5.0f ns | framed %5.0f ns\n",
              wake.c_str(), raw_ns, framed_ns);
}

}  // namespace
}  // namespace ferry::shm

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_serve_raw).empty() || !absl::GetFlag(FLAGS_serve_framed).empty()) {
    return ferry::shm::Serve();
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (absl::GetFlag(FLAGS_pin)) ferry::shm::Pin(0);
  int index = 0;
  for (absl::string_view wake : absl::StrSplit(absl::GetFlag(FLAGS_wakes), ',')) {
    if (!absl::GetFlag(FLAGS_cpu_cost_only)) ferry::shm::Run(std::string(wake), index++);
    if (absl::GetFlag(FLAGS_cpu_cost) || absl::GetFlag(FLAGS_cpu_cost_only)) {
      ferry::shm::CpuCost(std::string(wake));
    }
  }
  return 0;
}
