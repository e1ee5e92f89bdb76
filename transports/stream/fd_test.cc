#include "transports/stream/fd.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

TEST(UniqueFdTest, ClosesOnDestructionAndReleaseGivesUp) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  { UniqueFd r(p[0]); }
  EXPECT_EQ(::fcntl(p[0], F_GETFD), -1);
  UniqueFd w(p[1]);
  const int raw = w.release();
  EXPECT_FALSE(w.valid());
  EXPECT_NE(::fcntl(raw, F_GETFD), -1);
  ::close(raw);
}

TEST(WaitFdTest, DeadlineExceededThenReady) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  UniqueFd r(p[0]), w(p[1]);
  const absl::Time start = absl::Now();
  absl::Status s = WaitFd(r.get(), POLLIN, start + absl::Milliseconds(30));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(30));
  // A deadline in the past still reports readiness that is already there.
  ASSERT_EQ(::write(w.get(), "x", 1), 1);
  EXPECT_TRUE(WaitFd(r.get(), POLLIN, absl::InfinitePast()).ok());
  EXPECT_TRUE(WaitFd(r.get(), POLLIN, absl::InfiniteFuture()).ok());
}

TEST(CloseGateTest, ReleasesAtCloseWhenNobodyInside) {
  int released = 0;
  int woken = 0;
  CloseGate gate([&] { ++released; });
  {
    CloseGate::Call call(gate);
    EXPECT_TRUE(call.entered());
  }
  EXPECT_EQ(released, 0);
  EXPECT_TRUE(gate.Close([&] { ++woken; }));
  EXPECT_EQ(released, 1);
  EXPECT_FALSE(gate.Close([&] { ++woken; }));
  EXPECT_EQ(woken, 1);
  CloseGate::Call late(gate);
  EXPECT_FALSE(late.entered());
  EXPECT_EQ(released, 1);
}

TEST(CloseGateTest, ReleaseWaitsForTheLastCallInside) {
  int released = 0;
  CloseGate gate([&] { ++released; });
  auto inside = std::make_unique<CloseGate::Call>(gate);
  ASSERT_TRUE(inside->entered());
  EXPECT_TRUE(gate.Close([&] { EXPECT_EQ(released, 0); }));
  EXPECT_EQ(released, 0);  // a call is still using the resources
  inside.reset();
  EXPECT_EQ(released, 1);
}

TEST(CloseGateTest, ReleasesExactlyOnceUnderContention) {
  for (int round = 0; round < 200; ++round) {
    std::atomic<int> released{0};
    std::atomic<bool> in_use_after_release{false};
    CloseGate gate([&] { released.fetch_add(1); });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 200; ++i) {
          CloseGate::Call call(gate);
          if (call.entered() && released.load() != 0) in_use_after_release = true;
        }
      });
    }
    threads.emplace_back([&] { gate.Close([] {}); });
    threads.emplace_back([&] { gate.Close([] {}); });
    for (auto& t : threads) t.join();
    EXPECT_EQ(released.load(), 1);
    EXPECT_FALSE(in_use_after_release.load());
  }
}

}  // namespace
}  // namespace ferry
