#include "transports/shm/shm_gate.h"

#include <atomic>
#include <memory>
#include <random>
#include <thread>

#include "gtest/gtest.h"

namespace ferry::shm {
namespace {

TEST(CallGateTest, ReleasesOnCloseWhenNobodyIsInside) {
  int released = 0, woken = 0;
  CallGate gate([&] { ++released; });
  {
    CallGate::Call c(gate, CallGate::kReceive);
    EXPECT_TRUE(c.entered());
  }
  EXPECT_TRUE(gate.Close([&] { ++woken; }));
  EXPECT_FALSE(gate.Close([&] { ++woken; }));
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(released, 1);
  CallGate::Call late(gate, CallGate::kSend);
  EXPECT_FALSE(late.entered());
  EXPECT_EQ(released, 1);
}

// The wake-up run by Close() typically makes a blocked call return and leave: that call
// must not release the resources while the wake-up still uses them.
TEST(CallGateTest, ACallLeavingDuringTheWakeUpDoesNotReleaseUnderIt) {
  bool released = false;
  CallGate gate([&] { released = true; });
  auto inside = std::make_unique<CallGate::Call>(gate, CallGate::kReceive);
  ASSERT_TRUE(inside->entered());
  gate.Close([&] {
    inside.reset();  // the woken call leaves
    EXPECT_FALSE(released) << "released while Close() was still waking";
  });
  EXPECT_TRUE(released);
}

TEST(CallGateTest, ACallInsideDefersTheReleaseToItsLeave) {
  int released = 0;
  CallGate gate([&] { ++released; });
  {
    CallGate::Call send(gate, CallGate::kSend);
    ASSERT_TRUE(send.entered());
    {
      CallGate::Call receive(gate, CallGate::kReceive);
      ASSERT_TRUE(receive.entered());
      // Close from inside a call (a Send that gives up after a partial write does this).
      EXPECT_TRUE(gate.Close([] {}));
      EXPECT_EQ(released, 0);
    }
    EXPECT_EQ(released, 0) << "the send slot is still inside";
  }
  EXPECT_EQ(released, 1);
}

// Two threads (one per slot) enter and leave as fast as they can while another closes at
// a random moment: the release runs exactly once, and never while a call is inside.
TEST(CallGateTest, NeverReleasesUnderARunningCall) {
  std::mt19937 rng(1);
  for (int round = 0; round < 2000; ++round) {
    auto resource = std::make_unique<std::atomic<int>>(1);
    std::atomic<int> releases{0};
    std::atomic<bool> violated{false};
    CallGate gate([&] {
      resource->store(0, std::memory_order_relaxed);  // "freed"
      releases.fetch_add(1);
    });
    auto caller = [&](CallGate::Slot slot) {
      for (;;) {
        CallGate::Call c(gate, slot);
        if (!c.entered()) return;
        if (resource->load(std::memory_order_relaxed) != 1) violated.store(true);
        for (int i = 0; i < 20; ++i) CpuRelax();
        if (resource->load(std::memory_order_relaxed) != 1) violated.store(true);
      }
    };
    std::thread receiver(caller, CallGate::kReceive);
    std::thread sender(caller, CallGate::kSend);
    for (int spin = static_cast<int>(rng() % 2000); spin > 0; --spin) CpuRelax();
    gate.Close([&] {
      if (resource->load(std::memory_order_relaxed) != 1) violated.store(true);
    });
    receiver.join();
    sender.join();
    ASSERT_FALSE(violated.load()) << "released under a running call, round " << round;
    ASSERT_EQ(releases.load(), 1) << "round " << round;
  }
}

}  // namespace
}  // namespace ferry::shm
