#include "tests/conformance/rpc_conformance.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "runtime/channel.h"
#include "runtime/frame.h"
#include "runtime/server.h"
#include "tests/conformance/child_server.h"
#include "tests/conformance/conformance_service.h"
#include "transports/default_transports.h"
#include "transports/testing/pattern.h"

namespace ferry::conformance {
namespace {

constexpr uint32_t kLimit = kDefaultMaxMessageSize;
constexpr char kEcho[] = "/ferry.conformance.Conformance/Echo";

// The payload size whose EchoRequest (and EchoReply) serializes to exactly `size` bytes:
// one tag byte, the length varint, the bytes.
size_t PayloadForSerializedSize(size_t size) {
  for (size_t varint = 1; varint <= 5; ++varint) {
    const size_t n = size - 1 - varint;
    size_t need = 1;
    for (size_t v = n; v >= 128; v >>= 7) ++need;
    if (need == varint) return n;
  }
  return 0;
}

// A server (in this process) serving ConformanceService, a channel and a stub to it. Echo
// runs inline on the reader thread, Sleep on the pool: both paths are exercised.
struct Harness {
  ConformanceService service;
  std::unique_ptr<Server> server;
  std::shared_ptr<Channel> channel;
  std::unique_ptr<Conformance::Stub> stub;
  std::string address;

  static std::unique_ptr<Harness> Start(const RpcConformanceParam& param,
                                        const ServerOptions& server_options = {},
                                        const ChannelOptions& channel_options = {}) {
    auto h = std::make_unique<Harness>();
    if (param.channel_spawns_server) {  // the channel's child is the server
      h->address = param.make_address();
      auto channel = Channel::Create(h->address, DefaultTransports(), channel_options);
      EXPECT_TRUE(channel.ok()) << channel.status();
      if (!channel.ok()) return nullptr;
      h->channel = *channel;
      h->stub = std::make_unique<Conformance::Stub>(h->channel);
      return h;
    }
    auto server = ServerBuilder(DefaultTransports())
                      .AddListeningAddress(param.make_address())
                      .RegisterService(&h->service, HandlerThread::kInline)
                      .SetMethodThread("/ferry.conformance.Conformance/Sleep",
                                       HandlerThread::kPool)
                      .SetOptions(server_options)
                      .BuildAndStart();
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    h->server = *std::move(server);
    h->address = h->server->addresses()[0];
    auto channel = Channel::Create(h->address, DefaultTransports(), channel_options);
    EXPECT_TRUE(channel.ok()) << channel.status();
    if (!channel.ok()) return nullptr;
    h->channel = *channel;
    h->stub = std::make_unique<Conformance::Stub>(h->channel);
    return h;
  }
};

absl::StatusOr<EchoReply> EchoBytes(Conformance::Stub& stub, std::string payload,
                                    absl::Duration timeout = absl::Seconds(20)) {
  ClientContext ctx;
  ctx.set_timeout(timeout);
  EchoRequest req;
  *req.mutable_payload() = std::move(payload);
  return stub.Echo(ctx, req);
}

// This process's live children (for channels that spawn their server).
std::vector<pid_t> ChildPids() {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // "pid (comm) state ppid ...": comm may hold spaces, so parse after the last ')'.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid == getpid() && state != 'Z') pids.push_back(pid);
  }
  return pids;
}

// The one child in `after` that is not in `before`, or -1.
pid_t NewChild(const std::vector<pid_t>& before, const std::vector<pid_t>& after) {
  pid_t found = -1;
  for (pid_t p : after) {
    if (std::find(before.begin(), before.end(), p) != before.end()) continue;
    if (found != -1) return -1;
    found = p;
  }
  return found;
}

// True once /proc/<pid> is gone: exited and reaped (a zombie keeps its entry).
bool ReapedWithin(pid_t pid, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    if (!std::filesystem::exists(absl::StrCat("/proc/", pid))) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      long kib = 0;
      std::sscanf(line.c_str(), "VmRSS: %ld", &kib);
      return kib;
    }
  }
  return 0;
}

// Waits until the server closes the raw connection `fd` (EOF or reset); false on timeout.
bool ClosedByPeer(int fd, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  char buf[4096];
  while (absl::Now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
  }
  return false;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

std::string FrameBytes(FrameType type, uint8_t flags, uint32_t id, uint32_t length,
                       absl::string_view payload = {}) {
  FrameHeader h{type, flags, id, length};
  return h.Serialize() + std::string(payload);
}

TEST_P(RpcConformance, EchoesEverySizeUpToTheLimit) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  const size_t exact = PayloadForSerializedSize(kLimit);
  for (size_t size : {size_t{0}, size_t{1}, size_t{64}, size_t{4096}, size_t{1} << 20, exact}) {
    SCOPED_TRACE(absl::StrCat("payload ", size, " B over ", GetParam().name));
    const std::string payload = PatternBytes(size, static_cast<uint32_t>(size));
    absl::StatusOr<EchoReply> reply = EchoBytes(*h->stub, payload);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->payload().size(), size);
    EXPECT_TRUE(reply->payload() == payload);
  }
  EchoRequest at_limit;
  at_limit.set_payload(std::string(exact, 'x'));
  EXPECT_EQ(at_limit.ByteSizeLong(), kLimit);
}

TEST_P(RpcConformance, OneByteOverTheLimitIsResourceExhaustedAndTheChannelStaysUsable) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  const size_t over = PayloadForSerializedSize(kLimit) + 1;
  absl::StatusOr<EchoReply> big = EchoBytes(*h->stub, std::string(over, 'o'));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << big.status();
  absl::StatusOr<EchoReply> small = EchoBytes(*h->stub, "still here");
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->payload(), "still here");

  // A reply over the client's limit: the server fails the call instead of sending it.
  ClientContext ctx;
  EchoRequest req;
  req.set_reply_size(kLimit);
  EXPECT_EQ(h->stub->Echo(ctx, req).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(EchoBytes(*h->stub, "and still").ok());
}

TEST_P(RpcConformance, ServerLimitSmallerThanClientsIsHonouredBeforeSending) {
  if (GetParam().channel_spawns_server) {
    GTEST_SKIP() << "the server is the child the channel spawns, with conformance_server's "
                    "default limits";
  }
  ServerOptions so;
  so.max_receive_message_size = 64 << 10;
  auto h = Harness::Start(GetParam(), so);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(EchoBytes(*h->stub, std::string(100 << 10, 'b')).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(EchoBytes(*h->stub, std::string(60 << 10, 'b')).ok());
}

TEST_P(RpcConformance, SixteenConcurrentCallersEachGetTheirOwnReplies) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  constexpr int kThreads = 16, kCalls = 1000;
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        std::string payload = absl::StrCat("thread ", t, " call ", i, " ");
        payload += PatternBytes(40 + (i % 64), t * kCalls + i);
        absl::StatusOr<EchoReply> r = EchoBytes(*h->stub, payload);
        if (!r.ok()) {
          if (failures.fetch_add(1) < 3) ADD_FAILURE() << "thread " << t << ": " << r.status();
        } else if (r->payload() != payload) {
          mismatches.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_P(RpcConformance, OneThreadKeepsManyAsyncCallsInFlight) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  constexpr int kCalls = 200;
  std::vector<std::unique_ptr<ClientContext>> contexts;
  absl::BlockingCounter left(kCalls);
  std::atomic<int> bad{0};
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(std::make_unique<ClientContext>());
    contexts.back()->set_timeout(absl::Seconds(20));
    EchoRequest req;
    req.set_payload(absl::StrCat("async ", i));
    h->stub->EchoAsync(*contexts.back(), req,
                       [&, i](absl::StatusOr<EchoReply> r) {
                         if (!r.ok() || r->payload() != absl::StrCat("async ", i)) ++bad;
                         left.DecrementCount();
                       });
  }
  left.Wait();
  EXPECT_EQ(bad.load(), 0);
}

TEST_P(RpcConformance, DeadlineExceededAndTheHandlerSeesTheCallCancelled) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  ClientContext ctx;
  ctx.set_timeout(absl::Milliseconds(300));
  SleepRequest req;
  req.set_ms(10000);
  req.set_tag("deadline");
  const absl::Time start = absl::Now();
  absl::StatusOr<SleepReply> r = h->stub->Sleep(ctx, req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  if (h->server != nullptr) {  // else the handler runs in the child the channel spawned
    EXPECT_EQ(h->service.SleepOutcome("deadline", absl::Seconds(5)), std::optional<bool>(true));
  }
  const absl::StatusOr<EchoReply> after = EchoBytes(*h->stub, "after deadline");
  EXPECT_TRUE(after.ok()) << after.status();
}

TEST_P(RpcConformance, CancelEndsTheCallAndTheHandlerSeesIt) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  ClientContext ctx;
  SleepRequest req;
  req.set_ms(10000);
  req.set_tag("cancel");
  absl::Notification done;
  absl::Status status;
  h->stub->SleepAsync(ctx, req, [&](absl::StatusOr<SleepReply> r) {
    status = r.status();
    done.Notify();
  });
  if (h->server != nullptr) {
    while (h->service.sleeping() == 0) absl::SleepFor(absl::Milliseconds(1));
  } else {
    absl::SleepFor(absl::Milliseconds(200));  // the handler is in the spawned child
  }
  ctx.Cancel();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  if (h->server != nullptr) {
    EXPECT_EQ(h->service.SleepOutcome("cancel", absl::Seconds(5)), std::optional<bool>(true));
  } else {
    EXPECT_TRUE(EchoBytes(*h->stub, "after cancel").ok());  // the spawned server still serves
  }
}

TEST_P(RpcConformance, UnknownMethodIsUnimplemented) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  for (const char* path : {"/ferry.conformance.Conformance/Missing", "/no.Such/Service"}) {
    ClientContext ctx;
    EchoRequest req;
    EchoReply reply;
    absl::Status s = h->channel->Call(ctx, path, req, &reply);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << path << ": " << s;
    EXPECT_TRUE(absl::StrContains(s.message(), path)) << s;
  }
  EXPECT_TRUE(EchoBytes(*h->stub, "served").ok());
}

TEST_P(RpcConformance, HandlerStatusIsReturnedVerbatim) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  for (auto code : {absl::StatusCode::kNotFound, absl::StatusCode::kFailedPrecondition,
                    absl::StatusCode::kPermissionDenied, absl::StatusCode::kAborted}) {
    ClientContext ctx;
    FailRequest req;
    req.set_code(static_cast<int>(code));
    req.set_message(absl::StrCat("key \"k\" is gone (", static_cast<int>(code), ")"));
    absl::Status s = h->stub->Fail(ctx, req).status();
    EXPECT_EQ(s.code(), code);
    EXPECT_EQ(s.message(), req.message());
  }
}

TEST_P(RpcConformance, UndecodableRequestIsInvalidArgument) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  ClientContext ctx;
  RawLabel raw;
  raw.set_label("\xff\xfe not utf-8");
  EchoReply reply;
  absl::Status s = h->channel->Call(ctx, kEcho, raw, &reply);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(EchoBytes(*h->stub, "fine").ok());
}

TEST_P(RpcConformance, MetadataDeadlineAndTrailersTravel) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  ClientContext ctx;
  ctx.set_timeout(absl::Seconds(5));
  ctx.AddMetadata("x-echo", "hello");
  EchoRequest req;
  absl::StatusOr<EchoReply> r = h->stub->Echo(ctx, req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->echoed_metadata(), "hello");
  EXPECT_GT(r->budget_ms(), 3000);
  EXPECT_LE(r->budget_ms(), 5000);
  ASSERT_EQ(ctx.trailing_metadata().size(), 1u);
  EXPECT_EQ(ctx.trailing_metadata()[0].first, "x-echo-trailer");
  EXPECT_EQ(ctx.trailing_metadata()[0].second, "hello");

  ClientContext bad;
  bad.AddMetadata("Upper-Case", "v");
  EXPECT_EQ(h->stub->Echo(bad, req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(RpcConformance, GracefulShutdownDrainsCallsInFlight) {
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  ClientContext ctx;
  ctx.set_timeout(absl::Seconds(20));
  SleepRequest req;
  req.set_ms(300);
  absl::Notification done;
  absl::StatusOr<SleepReply> result;
  h->stub->SleepAsync(ctx, req, [&](absl::StatusOr<SleepReply> r) {
    result = std::move(r);
    done.Notify();
  });
  if (h->server == nullptr) {
    // The spawned conformance_server shuts down gracefully on SIGTERM.
    ASSERT_TRUE(EchoBytes(*h->stub, "spawned").ok());
    const std::vector<pid_t> children = ChildPids();
    ASSERT_EQ(children.size(), 1u) << "expected the one child the channel spawned";
    absl::SleepFor(absl::Milliseconds(100));  // let the Sleep call reach the child
    ASSERT_EQ(kill(children[0], SIGTERM), 0);
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_FALSE(result->cancelled());
    EXPECT_TRUE(ReapedWithin(children[0], absl::Seconds(10)));
    // The next call spawns a new server.
    EXPECT_TRUE(EchoBytes(*h->stub, "respawned").ok());
    return;
  }
  while (h->service.sleeping() == 0) absl::SleepFor(absl::Milliseconds(1));
  h->server->Shutdown(absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->cancelled());
  EXPECT_EQ(EchoBytes(*h->stub, "too late").status().code(), absl::StatusCode::kUnavailable);
}

TEST_P(RpcConformance, GarbageOnARawConnectionClosesOnlyThatConnection) {
  if (!GetParam().raw_connect) GTEST_SKIP() << GetParam().name << " is not a byte stream";
  auto h = Harness::Start(GetParam());
  ASSERT_NE(h, nullptr);
  ASSERT_TRUE(EchoBytes(*h->stub, "warm up").ok());
  const long rss_before = RssKiB();

  std::string hello_payload;
  EncodeHello(HelloPayload{kLimit}, &hello_payload);
  const std::string hello =
      FrameBytes(FrameType::kHello, 0, 0, hello_payload.size(), hello_payload);
  std::string start_payload;
  EncodeCallStart(kEcho, kNoDeadline, {}, &start_payload);
  const std::string start =
      FrameBytes(FrameType::kCallStart, 0, 7, start_payload.size(), start_payload);
  std::mt19937 rng(20261122);
  std::string random(4096, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  const std::vector<std::pair<std::string, std::string>> attacks = {
      {"random bytes", random},
      {"a bare 4 GiB length prefix", std::string("\xff\xff\xff\xff", 4) + random.substr(0, 64)},
      {"HELLO then a 4 GiB MESSAGE header",
       hello + FrameBytes(FrameType::kMessage, 0, 1, 0xffffffffu)},
      {"HELLO then a frame one byte over the limit",
       hello + FrameBytes(FrameType::kMessage, 0, 1, kLimit + 1)},
      {"HELLO then the same call started twice", hello + start + start},
      {"HELLO then a CALL_START with a bad payload",
       hello + FrameBytes(FrameType::kCallStart, 0, 1, 3, "abc") +
           FrameBytes(FrameType::kHello, 0, 0, 0)},
  };
  for (const auto& [what, bytes] : attacks) {
    SCOPED_TRACE(what);
    absl::StatusOr<int> fd = GetParam().raw_connect(h->address);
    ASSERT_TRUE(fd.ok()) << fd.status();
    WriteAll(*fd, bytes);
    EXPECT_TRUE(ClosedByPeer(*fd, absl::Seconds(5))) << "server kept the connection open";
    close(*fd);
    absl::StatusOr<EchoReply> r = EchoBytes(*h->stub, "others are still served");
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Nothing was allocated for the announced sizes (4 GiB would show; allow for noise).
  EXPECT_LT(RssKiB() - rss_before, 64 * 1024) << "RSS grew from " << rss_before << " KiB";
}

// The channel spawned its server: kill that child mid-call (UNAVAILABLE, promptly), see
// it reaped, and see the next call run on a new child.
void KillTheSpawnedServerMidCall(const RpcConformanceParam& param) {
  const std::vector<pid_t> before = ChildPids();
  auto channel = Channel::Create(param.make_address(), DefaultTransports());
  ASSERT_TRUE(channel.ok()) << channel.status();
  Conformance::Stub stub(*channel);
  ASSERT_TRUE(EchoBytes(stub, "alive").ok());
  const pid_t child = NewChild(before, ChildPids());
  ASSERT_GT(child, 0) << "cannot tell which child the channel spawned";
  absl::Status status;
  absl::Duration took;
  std::thread caller([&] {
    ClientContext ctx;
    ctx.set_timeout(absl::Seconds(30));
    SleepRequest req;
    req.set_ms(20000);
    const absl::Time start = absl::Now();
    status = stub.Sleep(ctx, req).status();
    took = absl::Now() - start;
  });
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_EQ(kill(child, SIGKILL), 0);
  caller.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_TRUE(ReapedWithin(child, absl::Seconds(10))) << "the killed child was not reaped";
  absl::StatusOr<EchoReply> again = EchoBytes(stub, "respawned");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->payload(), "respawned");
  const std::vector<pid_t> now = ChildPids();
  EXPECT_EQ(std::find(now.begin(), now.end(), child), now.end());
  EXPECT_EQ(now.size(), before.size() + 1) << "expected exactly one new child";
}

TEST_P(RpcConformance, ServerKilledMidCallIsUnavailableBeforeTheDeadline) {
  if (!GetParam().cross_process) GTEST_SKIP() << GetParam().name << " is in-process only";
  if (GetParam().channel_spawns_server) {
    KillTheSpawnedServerMidCall(GetParam());
    return;
  }
  absl::StatusOr<ChildServer> child = ChildServer::Start(GetParam().make_address());
  ASSERT_TRUE(child.ok()) << child.status();
  auto channel = Channel::Create(child->address(), DefaultTransports());
  ASSERT_TRUE(channel.ok());
  Conformance::Stub stub(*channel);
  ASSERT_TRUE(EchoBytes(stub, "alive").ok());

  absl::Status status;
  absl::Duration took;
  std::thread caller([&] {
    ClientContext ctx;
    ctx.set_timeout(absl::Seconds(30));
    SleepRequest req;
    req.set_ms(20000);
    const absl::Time start = absl::Now();
    status = stub.Sleep(ctx, req).status();
    took = absl::Now() - start;
  });
  absl::SleepFor(absl::Milliseconds(300));
  child->Kill(SIGKILL);
  caller.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(took, absl::Seconds(5));
}

TEST_P(RpcConformance, ChannelReconnectsAfterServerRestart) {
  if (!GetParam().cross_process) GTEST_SKIP() << GetParam().name << " is in-process only";
  if (GetParam().channel_spawns_server) {
    // "Restart" is the channel's own: it respawns its server on the next call.
    const std::vector<pid_t> before = ChildPids();
    auto channel = Channel::Create(GetParam().make_address(), DefaultTransports());
    ASSERT_TRUE(channel.ok()) << channel.status();
    Conformance::Stub stub(*channel);
    ASSERT_TRUE(EchoBytes(stub, "first").ok());
    const pid_t first = NewChild(before, ChildPids());
    ASSERT_GT(first, 0);
    ASSERT_EQ(kill(first, SIGKILL), 0);
    ASSERT_TRUE(ReapedWithin(first, absl::Seconds(10)));
    absl::StatusOr<EchoReply> r = EchoBytes(stub, "second");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->payload(), "second");
    const pid_t second = NewChild(before, ChildPids());
    EXPECT_GT(second, 0);
    EXPECT_NE(second, first);
    return;
  }
  absl::StatusOr<ChildServer> first = ChildServer::Start(GetParam().make_address());
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string bound = first->address();
  auto channel = Channel::Create(bound, DefaultTransports());
  ASSERT_TRUE(channel.ok());
  Conformance::Stub stub(*channel);
  ASSERT_TRUE(EchoBytes(stub, "first").ok());

  first->Kill(SIGKILL);
  absl::StatusOr<ChildServer> second = ChildServer::Start(GetParam().rebind_address(bound));
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->address(), bound);
  absl::StatusOr<EchoReply> r = EchoBytes(stub, "second");
  if (!r.ok() && GetParam().restart_may_fail_first_call &&
      r.status().code() == absl::StatusCode::kUnavailable) {
    r = EchoBytes(stub, "second");
  }
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->payload(), "second");
}

// ---- Parameters for the built-in transports -----------------------------------------------

// One temp directory per test process for socket files. Listeners remove their files,
// but a server child killed with SIGKILL cannot, so the whole directory goes at exit.
const std::string& SocketDir() {
  static const std::string* dir = [] {
    char tmpl[] = "/tmp/ferry-conf.XXXXXX";
    auto* d = new std::string(mkdtemp(tmpl));
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(SocketDir(), ignored);
    });
    return d;
  }();
  return *dir;
}

absl::StatusOr<int> RawUnix(const std::string& address) {
  const std::string path = address.substr(address.find(':') + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  path.copy(sa.sun_path, sizeof(sa.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect ", path, " failed"));
  }
  return fd;
}

absl::StatusOr<int> RawTcp(const std::string& address) {
  // tcp://127.0.0.1:PORT
  const size_t colon = address.rfind(':');
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(address);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect ", address, " failed"));
  }
  return fd;
}

}  // namespace

std::string ParamName(const testing::TestParamInfo<RpcConformanceParam>& info) {
  return info.param.name;
}

RpcConformanceParam UdsParam() {
  RpcConformanceParam p;
  p.name = "uds";
  p.make_address = [] {
    static std::atomic<int> n{0};
    return absl::StrCat("unix:", SocketDir(), "/s", getpid(), "-", n.fetch_add(1), ".sock");
  };
  p.raw_connect = RawUnix;
  p.rebind_address = [](const std::string& bound) { return bound; };
  return p;
}

RpcConformanceParam TcpParam() {
  RpcConformanceParam p;
  p.name = "tcp";
  p.make_address = [] { return std::string("tcp://127.0.0.1:0"); };
  p.raw_connect = RawTcp;
  p.rebind_address = [](const std::string& bound) { return bound; };
  return p;
}

RpcConformanceParam InprocParam() {
  RpcConformanceParam p;
  p.name = "inproc";
  p.make_address = [] {
    static std::atomic<int> n{0};
    return absl::StrCat("inproc:conformance-", n.fetch_add(1));
  };
  p.cross_process = false;
  return p;
}

}  // namespace ferry::conformance
