#include "tests/load/rpc_load.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/channel.h"
#include "runtime/server.h"
#include "tests/conformance/child_server.h"
#include "tests/conformance/conformance.ferry.h"
#include "tests/conformance/conformance_service.h"
#include "transports/default_transports.h"

namespace ferry::load {
namespace {

using conformance::ChildServer;
using conformance::Conformance;
using conformance::EchoReply;
using conformance::EchoRequest;

// Async clients keep this many calls in flight on their one connection.
constexpr int kWindow = 4;
// Allowed growth of the server's RSS from the end of the warm-up round to the end of the
// last round: 16 MiB plus 10% of the warm RSS. Allocator arenas and caches settle during
// the warm-up (same 64 connections, same sizes); what is left is noise of a few MiB. A leak
// of 32 bytes per call over the 576,000 calls after the warm-up (17.6 MiB) already fails.
constexpr long kSlackKiB = 16 * 1024;
constexpr long kSlackPercent = 10;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  int n = 0;
  return v != nullptr && absl::SimpleAtoi(v, &n) && n > 0 ? n : fallback;
}

std::string Sanitizer() {
  const char* v = std::getenv("FERRY_SANITIZER");
  return v != nullptr ? v : "";
}

struct Sizes {
  int clients = 64;
  int calls = 10000;  // per client
  int warmup = 1000;  // of those, the first ones (before the first memory sample)
};

Sizes LoadSizes() {
  Sizes s;
  const std::string san = Sanitizer();
  if (san == "asan") s.calls = 1000;
  if (san == "tsan") s.calls = 300;
  s.clients = EnvInt("FERRY_LOAD_CLIENTS", s.clients);
  s.calls = EnvInt("FERRY_LOAD_CALLS", s.calls);
  s.warmup = std::max(1, s.calls / 10);
  return s;
}

// The payload of call `seq` of client `client`: names both, then bytes derived from them.
// Mostly small (8-263 bytes); every 997th call is 64 KiB so large frames are in the mix.
std::string Payload(int client, int seq) {
  std::string s = absl::StrCat("c", client, " s", seq, " ");
  const size_t extra = seq % 997 == 996 ? size_t{64} << 10 : 8 + (seq * 7 + client * 13) % 256;
  uint32_t x = static_cast<uint32_t>(client) * 2654435761u ^ static_cast<uint32_t>(seq);
  for (size_t i = 0; i < extra; ++i) {
    x = x * 1664525u + 1013904223u;
    s.push_back(static_cast<char>(x >> 24));
  }
  return s;
}

// "c12 s345 ..." -> "client 12 call 345", to say whose reply a wrong one was.
std::string Owner(const std::string& payload) {
  const size_t space = payload.find(' ', payload.find(' ') + 1);
  return payload.substr(0, std::min<size_t>(space, 24));
}

long RssKiB(pid_t pid) {
  std::ifstream in(pid > 0 ? absl::StrCat("/proc/", pid, "/status") : "/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      long kib = 0;
      std::sscanf(line.c_str(), "VmRSS: %ld", &kib);
      return kib;
    }
  }
  return -1;
}

// One client: its own channel (own connection), calls with sequence numbers, and a record
// of which replies came back.
class Client {
 public:
  Client(int id, int calls, std::shared_ptr<Channel> channel)
      : id_(id), stub_(std::move(channel)), seen_(calls, 0) {}

  // Makes calls [from, to): synchronous for even ids, `kWindow` async calls in flight for
  // odd ids (both call paths of the runtime under load).
  void Run(int from, int to) {
    for (int seq = from; seq < to; ++seq) {
      if (id_ % 2 == 0) {
        RunSync(seq);
      } else {
        RunAsync(seq);
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    // Every reply is due long before this; a lost one shows up here.
    cv_.wait_for(lock, std::chrono::seconds(120), [&] { return in_flight_ == 0; });
  }

  // Problems so far, one line each (at most a few per kind).
  std::vector<std::string> Problems(int upto) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out = problems_;
    int lost = 0, dup = 0;
    for (int seq = 0; seq < upto; ++seq) {
      if (seen_[seq] == 0 && ++lost <= 3) {
        out.push_back(absl::StrCat("client ", id_, " call ", seq, ": no reply (lost)"));
      }
      if (seen_[seq] > 1 && ++dup <= 3) {
        out.push_back(absl::StrCat("client ", id_, " call ", seq, ": ", int{seen_[seq]},
                                   " replies (duplicated)"));
      }
    }
    if (lost > 3) out.push_back(absl::StrCat("client ", id_, ": ", lost, " replies lost"));
    if (dup > 3) out.push_back(absl::StrCat("client ", id_, ": ", dup, " duplicated"));
    if (in_flight_ != 0) {
      out.push_back(absl::StrCat("client ", id_, ": ", in_flight_, " calls never completed"));
    }
    return out;
  }

 private:
  void Record(int seq, const absl::StatusOr<EchoReply>& r, const std::string& sent) {
    std::lock_guard<std::mutex> lock(mu_);
    if (seen_[seq] < 255) ++seen_[seq];
    if (problems_.size() >= 6) return;
    if (!r.ok()) {
      problems_.push_back(absl::StrCat("client ", id_, " call ", seq, ": ", r.status().ToString()));
    } else if (r->payload() != sent) {
      problems_.push_back(absl::StrCat("client ", id_, " call ", seq, ": wrong reply (",
                                       r->payload().size(), " bytes, looks like ",
                                       Owner(r->payload()), "'s, sent ", sent.size(), ")"));
    }
  }

  void RunSync(int seq) {
    ClientContext ctx;
    ctx.set_timeout(absl::Seconds(60));
    EchoRequest req;
    req.set_payload(Payload(id_, seq));
    Record(seq, stub_.Echo(ctx, req), req.payload());
  }

  void RunAsync(int seq) {
    Slot* slot = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ < kWindow; });
      for (Slot& s : slots_) {
        if (!s.busy) {
          slot = &s;
          break;
        }
      }
      slot->busy = true;
      ++in_flight_;
    }
    slot->ctx = std::make_unique<ClientContext>();
    slot->ctx->set_timeout(absl::Seconds(60));
    slot->request.set_payload(Payload(id_, seq));
    stub_.EchoAsync(*slot->ctx, slot->request, [this, slot, seq](absl::StatusOr<EchoReply> r) {
      Record(seq, r, slot->request.payload());
      std::lock_guard<std::mutex> lock(mu_);
      slot->busy = false;
      --in_flight_;
      cv_.notify_all();
    });
  }

  struct Slot {
    bool busy = false;
    std::unique_ptr<ClientContext> ctx;
    EchoRequest request;
  };

  const int id_;
  Conformance::Stub stub_;
  std::mutex mu_;
  std::condition_variable cv_;
  Slot slots_[kWindow];
  int in_flight_ = 0;
  std::vector<uint8_t> seen_;
  std::vector<std::string> problems_;
};

// Runs every client's calls [from, to) on its own thread; returns the problems found.
std::vector<std::string> Round(std::vector<std::unique_ptr<Client>>& clients, int from, int to) {
  std::vector<std::thread> threads;
  for (auto& c : clients) threads.emplace_back([&c, from, to] { c->Run(from, to); });
  for (std::thread& t : threads) t.join();
  std::vector<std::string> problems;
  for (auto& c : clients) {
    for (std::string& p : c->Problems(to)) problems.push_back(std::move(p));
  }
  return problems;
}

TEST_P(RpcLoad, EveryReplyReachesItsOwnCallAndServerMemoryStaysFlat) {
  const conformance::RpcConformanceParam& param = GetParam();
  const Sizes sizes = LoadSizes();
  const std::string what =
      absl::StrCat("transport ", param.name, ", ", sizes.clients, " clients x ", sizes.calls,
                   " calls (warm-up ", sizes.warmup, ")",
                   Sanitizer().empty() ? "" : absl::StrCat(", sanitizer ", Sanitizer()),
                   "; rerun: bazel test //tests/load:load_test --test_env=FERRY_LOAD_CLIENTS=",
                   sizes.clients, " --test_env=FERRY_LOAD_CALLS=", sizes.calls,
                   " --test_filter='*", param.name, "'");
  SCOPED_TRACE(what);
  std::printf("load: %s\n", what.c_str());

  // The server: a child process where the transport allows, so its memory is its own.
  std::unique_ptr<ChildServer> child;
  conformance::ConformanceService service;
  std::unique_ptr<Server> in_process;
  std::string address;
  if (param.channel_spawns_server) {
    // exec:-like transports: every channel spawns its own server child; there is no one
    // server process whose memory could be watched, only the replies are checked.
    address = param.make_address();
  } else if (param.cross_process) {
    absl::StatusOr<ChildServer> c = ChildServer::Start(param.make_address());
    ASSERT_TRUE(c.ok()) << c.status();
    child = std::make_unique<ChildServer>(*std::move(c));
    address = child->address();
  } else {
    auto server = ServerBuilder(DefaultTransports())
                      .AddListeningAddress(param.make_address())
                      .RegisterService(&service, HandlerThread::kInline)
                      .BuildAndStart();
    ASSERT_TRUE(server.ok()) << server.status();
    in_process = *std::move(server);
    address = in_process->addresses()[0];
  }
  const pid_t server_pid = child ? child->pid() : 0;

  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < sizes.clients; ++i) {
    auto channel = Channel::Create(address, DefaultTransports());
    ASSERT_TRUE(channel.ok()) << channel.status();
    clients.push_back(std::make_unique<Client>(i, sizes.calls, *channel));
  }

  const absl::Time start = absl::Now();
  std::vector<std::string> problems = Round(clients, 0, sizes.warmup);
  for (const std::string& p : problems) ADD_FAILURE() << "warm-up: " << p;
  ASSERT_TRUE(problems.empty());
  const long warm_kib = RssKiB(server_pid);

  problems = Round(clients, sizes.warmup, sizes.calls);
  for (const std::string& p : problems) ADD_FAILURE() << p;
  const long end_kib = RssKiB(server_pid);
  const absl::Duration took = absl::Now() - start;
  const long allowed = kSlackKiB + warm_kib * kSlackPercent / 100;
  std::printf("load: %s: %d calls in %s (%.0f calls/s); server RSS %ld KiB after warm-up, "
              "%ld KiB at the end (allowed growth %ld KiB)\n",
              param.name.c_str(), sizes.clients * sizes.calls,
              absl::FormatDuration(took).c_str(),
              sizes.clients * sizes.calls / absl::ToDoubleSeconds(took), warm_kib, end_kib,
              allowed);
  if (Sanitizer().empty() && !param.channel_spawns_server) {
    EXPECT_LE(end_kib - warm_kib, allowed)
        << "server RSS grew from " << warm_kib << " KiB after the warm-up to " << end_kib
        << " KiB after " << sizes.clients * (sizes.calls - sizes.warmup) << " more calls";
  }

  clients.clear();
  if (child) {
    // A clean exit also means: no LeakSanitizer or ThreadSanitizer report in the server.
    const int status = child->Kill(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "server did not exit cleanly after SIGTERM: wait status " << status;
  }
}

}  // namespace
}  // namespace ferry::load
