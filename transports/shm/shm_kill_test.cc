// SIGKILL of either side of an shm connection at random points, for every backing and
// wake-up: the survivor reports UNAVAILABLE within a second (no hang, no other code, no
// crash), keeps serving others, and nothing of the connection is left in /dev/shm or /tmp.
// Transport level (frames, the killed side in mid-frame as often as not: frames of up to
// 1 MiB through 64 KiB rings) and RPC level (the runtime over shm, conformance service).
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/channel.h"
#include "runtime/frame.h"
#include "runtime/server.h"
#include "tests/conformance/conformance_service.h"
#include "transports/default_transports.h"
#include "transports/shm/peer_process.h"
#include "transports/shm/shm_transport.h"
#include "transports/shm/test_util.h"

namespace ferry {
namespace {

using shm::testing::Token;

using shm::testing::FerryObjects;
using shm::testing::PeerProcess;

constexpr char kPeer[] = "transports/shm/shm_test_peer";
constexpr char kConformanceServer[] = "tests/conformance/conformance_server";
// The bound for noticing a dead peer.
constexpr absl::Duration kDetection = absl::Seconds(1);

struct Combo {
  const char* backing;
  const char* wake;
};

std::string ComboName(const testing::TestParamInfo<Combo>& info) {
  return absl::StrCat(info.param.backing, "_", info.param.wake);
}

std::vector<Combo> AllCombos() {
  std::vector<Combo> combos;
  for (const char* b : {"memfd", "shm", "file"}) {
    for (const char* w : {"futex", "spin", "eventfd", "signal"}) combos.push_back({b, w});
  }
  return combos;
}

class ShmKillTest : public testing::TestWithParam<Combo> {
 protected:
  std::string Address(absl::string_view extra = "") {
    static std::atomic<int> n{0};
    return absl::StrCat("shm://kill-", ::getpid(), "-", Token(), "-", n.fetch_add(1),
                        "?backing=", GetParam().backing, "&wake=", GetParam().wake, extra);
  }
  absl::Duration RandomDelay() {
    return absl::Microseconds(std::uniform_int_distribution<int>(500, 40000)(rng_));
  }
  void TearDown() override {
    EXPECT_EQ(FerryObjects(), std::vector<std::string>{}) << "Ferry objects left behind";
  }

  std::mt19937 rng_{std::random_device{}()};
};

TEST_P(ShmKillTest, ClientKilledAtRandomPointsIsUnavailableForTheServer) {
  ShmTransport shm;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    auto listener = shm.Listen(*Address::Parse(Address("&ring=64k")), {});
    ASSERT_TRUE(listener.ok()) << listener.status();
    absl::StatusOr<PeerProcess> client =
        PeerProcess::Start(kPeer, {"--mode=frame_client", "--address=" + (*listener)->address()});
    ASSERT_TRUE(client.ok()) << client.status();
    auto server = (*listener)->Accept();
    ASSERT_TRUE(server.ok()) << server.status();
    absl::Status ended;
    absl::Time ended_at;
    absl::Notification done;
    int frames = 0;
    std::thread echo([&] {
      for (;;) {
        absl::StatusOr<Frame> f = (*server)->Receive(absl::InfiniteFuture());
        if (f.ok()) {
          ++frames;
          const OutFrame out{f->header, f->payload};
          if (absl::Status s = (*server)->Send({&out, 1}, absl::InfiniteFuture()); s.ok())
            continue;
          else
            ended = s;
        } else {
          ended = f.status();
        }
        ended_at = absl::Now();
        done.Notify();
        return;
      }
    });
    absl::SleepFor(RandomDelay());
    const absl::Time killed_at = client->Kill();
    const bool noticed = done.WaitForNotificationWithTimeout(absl::Seconds(10));
    if (!noticed) (*server)->Close();  // so the thread can be joined; the test has failed
    echo.join();
    ASSERT_TRUE(noticed) << "the server never noticed the client's death";
    EXPECT_EQ(ended.code(), absl::StatusCode::kUnavailable) << ended;
    EXPECT_LT(ended_at - killed_at, kDetection) << "after " << frames << " frames";
  }
}

TEST_P(ShmKillTest, ServerKilledAtRandomPointsIsUnavailableForTheClient) {
  ShmTransport shm;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    absl::StatusOr<PeerProcess> server =
        PeerProcess::Start(kPeer, {"--mode=frame_server", "--address=" + Address("&ring=64k")});
    ASSERT_TRUE(server.ok()) << server.status();
    const std::string bound = server->line().substr(std::string("listening on ").size());
    auto client = shm.Connect(*Address::Parse(bound), {}, absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(client.ok()) << client.status();
    absl::Status ended;
    absl::Time ended_at;
    absl::Notification done;
    std::thread caller([&] {
      std::mt19937 rng(round);
      for (uint32_t id = 1;; ++id) {
        const std::string payload(rng() % (1 << 20), 'p');
        const OutFrame f = MakeFrame(FrameType::kMessage, 0, id, payload);
        absl::Status s = (*client)->Send({&f, 1}, absl::InfiniteFuture());
        if (s.ok()) s = (*client)->Receive(absl::InfiniteFuture()).status();
        if (!s.ok()) {
          ended = s;
          ended_at = absl::Now();
          done.Notify();
          return;
        }
      }
    });
    absl::SleepFor(RandomDelay());
    const absl::Time killed_at = server->Kill();
    const bool noticed = done.WaitForNotificationWithTimeout(absl::Seconds(10));
    if (!noticed) (*client)->Close();
    caller.join();
    ASSERT_TRUE(noticed) << "the client never noticed the server's death";
    EXPECT_EQ(ended.code(), absl::StatusCode::kUnavailable) << ended;
    EXPECT_LT(ended_at - killed_at, kDetection);
  }
}

// The runtime over shm: a client process killed in the middle of a call. Its call is
// cancelled on the server within a second, and the server keeps serving everyone else.
TEST_P(ShmKillTest, RpcClientKilledMidCallIsCancelledAndOthersAreStillServed) {
  conformance::ConformanceService service;
  auto server = ServerBuilder(DefaultTransports())
                    .AddListeningAddress(Address())
                    .RegisterService(&service, HandlerThread::kInline)
                    .SetMethodThread("/ferry.conformance.Conformance/Sleep", HandlerThread::kPool)
                    .BuildAndStart();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->addresses()[0];
  auto channel = Channel::Create(address, DefaultTransports());
  ASSERT_TRUE(channel.ok()) << channel.status();
  conformance::Conformance::Stub other(*channel);
  auto echo = [&](const std::string& text) {
    ClientContext ctx;
    ctx.set_timeout(absl::Seconds(10));
    conformance::EchoRequest req;
    req.set_payload(text);
    return other.Echo(ctx, req);
  };
  ASSERT_TRUE(echo("before").ok());

  // A sleeping call, killed while the handler runs.
  const std::string tag = absl::StrCat("killed-", GetParam().backing, "-", GetParam().wake);
  absl::StatusOr<PeerProcess> sleeper =
      PeerProcess::Start(kPeer, {"--mode=rpc_sleep", "--address=" + address, "--tag=" + tag});
  ASSERT_TRUE(sleeper.ok()) << sleeper.status();
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (service.sleeping() == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_GT(service.sleeping(), 0);
  const absl::Time killed_at = sleeper->Kill();
  EXPECT_EQ(service.SleepOutcome(tag, absl::Seconds(10)), std::optional<bool>(true));
  // The handler polls for cancellation; allow it a little beyond the detection bound.
  EXPECT_LT(absl::Now() - killed_at, kDetection + absl::Milliseconds(500));

  // Echo callers with payloads up to 1 MiB, killed at random points of their calls.
  for (int round = 0; round < 3; ++round) {
    absl::StatusOr<PeerProcess> caller =
        PeerProcess::Start(kPeer, {"--mode=rpc_echo", "--address=" + address});
    ASSERT_TRUE(caller.ok()) << caller.status();
    absl::SleepFor(RandomDelay());
    caller->Kill();
    absl::StatusOr<conformance::EchoReply> r = echo(absl::StrCat("still served ", round));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->payload(), absl::StrCat("still served ", round));
  }
  (*server)->Shutdown(absl::Now() + absl::Seconds(5));
}

// The runtime over shm: the server process killed at a random point of 1 MiB-class calls.
TEST_P(ShmKillTest, RpcServerKilledAtRandomPointsFailsTheCallWithUnavailable) {
  for (int round = 0; round < 2; ++round) {
    absl::StatusOr<PeerProcess> server =
        PeerProcess::Start(kConformanceServer, {"--address=" + Address("&ring=64k")});
    ASSERT_TRUE(server.ok()) << server.status();
    const std::string bound = server->line().substr(std::string("listening on ").size());
    auto channel = Channel::Create(bound, DefaultTransports());
    ASSERT_TRUE(channel.ok()) << channel.status();
    conformance::Conformance::Stub stub(*channel);
    absl::Status ended;
    absl::Time ended_at;
    absl::Notification done;
    std::thread caller([&] {
      std::mt19937 rng(round);
      for (;;) {
        ClientContext ctx;
        ctx.set_timeout(absl::Seconds(30));
        conformance::EchoRequest req;
        req.set_payload(std::string(rng() % (1 << 20), 'r'));
        absl::StatusOr<conformance::EchoReply> r = stub.Echo(ctx, req);
        if (!r.ok()) {
          ended = r.status();
          ended_at = absl::Now();
          done.Notify();
          return;
        }
      }
    });
    absl::SleepFor(RandomDelay());
    const absl::Time killed_at = server->Kill();
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    caller.join();
    EXPECT_EQ(ended.code(), absl::StatusCode::kUnavailable) << ended;
    EXPECT_LT(ended_at - killed_at, kDetection) << ended;
  }
}

INSTANTIATE_TEST_SUITE_P(All, ShmKillTest, testing::ValuesIn(AllCombos()), ComboName);

// A process killed between shm_open and shm_unlink (a window of microseconds) leaves a
// name behind; the next process that creates a POSIX shm segment removes it.
TEST(ShmSweepTest, NamesOfDeadCreatorsAreRemovedAndLiveOnesKept) {
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  const std::string stale = absl::StrCat("/", shm::kShmNamePrefix, dead, ".0.42");
  const std::string live = absl::StrCat("/", shm::kShmNamePrefix, ::getpid(), ".0.43");
  for (const std::string& name : {stale, live}) {
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0) << name;
    ::close(fd);
  }
  ShmTransport shm;
  auto listener =
      shm.Listen(*Address::Parse(absl::StrCat("shm://sweep-", ::getpid(), "-", Token())), {});
  ASSERT_TRUE(listener.ok());
  auto client = shm.Connect(*Address::Parse((*listener)->address() + "?backing=shm"), {},
                            absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_NE(::access(("/dev/shm" + stale).c_str(), F_OK), 0) << "stale name not swept";
  EXPECT_EQ(::access(("/dev/shm" + live).c_str(), F_OK), 0) << "a live process's name was removed";
  ::shm_unlink(live.c_str());
  ::shm_unlink(stale.c_str());
}

}  // namespace
}  // namespace ferry
