#include "transports/shm/shm_ring.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "transports/shm/shm_wait.h"
#include "transports/testing/pattern.h"

namespace ferry::shm {
namespace {

constexpr int64_t kMs = 1'000'000;

// A ring in ordinary memory: the ring code cannot tell the difference.
struct TestRing {
  explicit TestRing(uint64_t capacity)
      : control(std::make_unique<RingControl>()),
        bytes(capacity + 2, '\xee'),  // guard bytes on both sides
        writer(control.get(), &bytes[1], capacity),
        reader(control.get(), &bytes[1], capacity) {}
  bool GuardsIntact() const { return bytes.front() == '\xee' && bytes.back() == '\xee'; }

  std::unique_ptr<RingControl> control;
  std::string bytes;
  RingWriter writer;
  RingReader reader;
};

// Moves the ring's position to `offset` (mod capacity) by pushing bytes through.
void Advance(TestRing& r, uint64_t n) {
  const std::string filler(n, 'f');
  ASSERT_GE(r.writer.Free(n), n);
  r.writer.Write(filler.data(), n);
  r.writer.Publish();
  std::string out(n, '\0');
  ASSERT_EQ(r.reader.Available(n), n);
  r.reader.Read(&out[0], n);
  r.reader.Release();
}

TEST(RingTest, WrapsAroundAtEveryOffsetWithOddSizes) {
  for (uint64_t capacity : {97u, 128u, 4099u}) {
    for (uint64_t size : {uint64_t{1}, uint64_t{3}, capacity / 2 + 1, capacity - 2, capacity}) {
      SCOPED_TRACE(::testing::Message() << "capacity " << capacity << " frame " << size);
      TestRing r(capacity);
      const uint64_t step = capacity > 1000 ? 37 : 1;  // every offset for small rings
      for (uint64_t offset = 0; offset < capacity; offset += step) {
        Advance(r, offset == 0 ? 0 : step);
        if (::testing::Test::HasFatalFailure()) return;
        const std::string frame = PatternBytes(size, static_cast<uint32_t>(offset));
        ASSERT_EQ(r.writer.Free(capacity), capacity);
        r.writer.Write(frame.data(), size);
        EXPECT_EQ(r.reader.Available(1), 0u) << "visible before Publish()";
        ASSERT_TRUE(r.writer.Publish());
        ASSERT_EQ(r.reader.Available(size), size);
        const char* direct = r.reader.Contiguous(size);
        const bool wraps = (r.writer.published() - size) % capacity + size > capacity;
        EXPECT_EQ(direct == nullptr, wraps) << "offset " << offset;
        if (direct != nullptr) {
          EXPECT_EQ(std::memcmp(direct, frame.data(), size), 0) << "offset " << offset;
        }
        std::string out(size, '\0');
        r.reader.Read(&out[0], size);
        ASSERT_EQ(out, frame) << "offset " << offset;
        EXPECT_EQ(r.reader.unreleased(), size);
        ASSERT_TRUE(r.reader.Release());
        EXPECT_FALSE(r.reader.Release());
      }
      EXPECT_TRUE(r.GuardsIntact());
      EXPECT_FALSE(r.writer.corrupt());
      EXPECT_FALSE(r.reader.corrupt());
    }
  }
}

TEST(RingTest, AFrameExactlyTheRingSizeFillsItAndNothingMore) {
  TestRing r(4097);
  const std::string frame = PatternBytes(4097, 1);
  Advance(r, 1000);
  ASSERT_EQ(r.writer.Free(4097), 4097u);
  r.writer.Write(frame.data(), frame.size());
  EXPECT_EQ(r.writer.Free(1), 0u);
  r.writer.Publish();
  EXPECT_EQ(r.writer.Free(1), 0u) << "full until the reader releases";
  std::string out(4097, '\0');
  ASSERT_EQ(r.reader.Available(4097), 4097u);
  r.reader.Read(&out[0], 4000);
  EXPECT_EQ(r.writer.Free(1), 0u) << "read but not released is still taken";
  r.reader.Release();
  EXPECT_EQ(r.writer.Free(1), 4000u);
  r.reader.Read(&out[4000], 97);
  r.reader.Release();
  EXPECT_EQ(out, frame);
  EXPECT_EQ(r.writer.Free(4097), 4097u);
  EXPECT_TRUE(r.GuardsIntact());
}

TEST(RingTest, AFrameLargerThanTheRingStreamsThroughInPieces) {
  TestRing r(1001);
  const std::string frame = PatternBytes(10 * 1001 + 13, 2);
  std::string out;
  size_t written = 0;
  while (out.size() < frame.size()) {
    const uint64_t free = r.writer.Free(1);
    const size_t n = std::min<size_t>(free, frame.size() - written);
    r.writer.Write(frame.data() + written, n);
    written += n;
    r.writer.Publish();
    const uint64_t avail = r.reader.Available(1);
    // Read in odd pieces so the read position drifts relative to the write position.
    const uint64_t take = std::min<uint64_t>(avail, 333);
    std::string piece(take, '\0');
    r.reader.Read(&piece[0], take);
    r.reader.Release();
    out += piece;
  }
  EXPECT_EQ(out, frame);
  EXPECT_TRUE(r.GuardsIntact());
}

TEST(RingTest, DiscardForgetsUnpublishedBytes) {
  TestRing r(100);
  r.writer.Write("abc", 3);
  r.writer.Discard();
  EXPECT_FALSE(r.writer.Publish());
  r.writer.Write("xyz", 3);
  r.writer.Publish();
  char out[3];
  ASSERT_EQ(r.reader.Available(3), 3u);
  r.reader.Read(out, 3);
  EXPECT_EQ(std::string(out, 3), "xyz");
}

TEST(RingTest, ImpossibleIndicesFromThePeerAreDetected) {
  {
    TestRing r(100);
    r.writer.Write("0123456789", 10);
    r.writer.Publish();
    // A hostile consumer claims to have released more than was ever published.
    r.control->head.value.store(11);
    EXPECT_EQ(r.writer.Free(200), 0u);
    EXPECT_TRUE(r.writer.corrupt());
  }
  {
    TestRing r(100);
    // A hostile producer claims more bytes than the ring holds.
    r.control->tail.value.store(101);
    EXPECT_EQ(r.reader.Available(1), 0u);
    EXPECT_TRUE(r.reader.corrupt());
  }
  {
    TestRing r(100);
    r.writer.Write("0123456789", 10);
    r.writer.Publish();
    ASSERT_EQ(r.reader.Available(10), 10u);
    char out[10];
    r.reader.Read(out, 10);
    // ... or moves its tail backwards.
    r.control->tail.value.store(5);
    EXPECT_EQ(r.reader.Available(1), 0u);
    EXPECT_TRUE(r.reader.corrupt());
  }
}

// ---- Waiting, per wake-up mode --------------------------------------------------------

struct ModeCase {
  WakeMode mode;
  int64_t spin_ns;
};

class RingWaitTest : public ::testing::TestWithParam<ModeCase> {
 protected:
  void SetUp() override {
    bell_.mode = GetParam().mode;
    bell_.spin_ns = GetParam().spin_ns;
    bell_.waiter_pid = ::getpid();
    bell_.signo = SIGRTMIN + 6;
    if (bell_.mode == WakeMode::kEventFd) {
      data_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      space_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      ASSERT_GE(data_fd_, 0);
      ASSERT_GE(space_fd_, 0);
    }
  }
  void TearDown() override {
    if (data_fd_ >= 0) ::close(data_fd_);
    if (space_fd_ >= 0) ::close(space_fd_);
  }
  Doorbell Bell(int fd) const {
    Doorbell b = bell_;
    b.event_fd = fd;
    return b;
  }

  Doorbell bell_;
  int data_fd_ = -1;
  int space_fd_ = -1;
};

TEST_P(RingWaitTest, FullRingBlocksTheWriterUntilTheReaderMakesRoom) {
  TestRing r(4096);
  const Doorbell data = Bell(data_fd_), space = Bell(space_fd_);
  const std::string frame = PatternBytes(4096, 3);
  r.writer.Write(frame.data(), frame.size());
  r.writer.Publish();
  Notify(r.control->data, data);

  // Full: a writer that needs room times out at its deadline...
  const int64_t start = NowNs();
  const WaitResult timed = Wait(
      r.control->space, space, start + 50 * kMs, [&] { return r.writer.Free(1) >= 1; },
      [](bool) { return false; });
  EXPECT_EQ(timed, WaitResult::kTimedOut);
  EXPECT_GE(NowNs() - start, 49 * kMs);
  EXPECT_LT(NowNs() - start, 2000 * kMs);

  // ... and one without a deadline is woken when the reader releases.
  std::atomic<bool> released{false};
  std::thread reader([&] {
    ::usleep(50'000);
    std::string out(1000, '\0');
    ASSERT_EQ(r.reader.Available(1000), 4096u);
    r.reader.Read(&out[0], 1000);
    released.store(true);
    r.reader.Release();
    Notify(r.control->space, space);
  });
  const WaitResult woke = Wait(
      r.control->space, space, std::numeric_limits<int64_t>::max(),
      [&] { return r.writer.Free(1000) >= 1000; }, [](bool) { return false; });
  EXPECT_EQ(woke, WaitResult::kReady);
  EXPECT_TRUE(released.load());
  EXPECT_EQ(r.writer.Free(1000), 1000u);
  reader.join();
}

TEST_P(RingWaitTest, ReaderIsWokenByThePublishAndStopEndsAWait) {
  TestRing r(4096);
  const Doorbell data = Bell(data_fd_);
  std::thread writer([&] {
    ::usleep(30'000);
    r.writer.Write("ping", 4);
    r.writer.Publish();
    Notify(r.control->data, data);
  });
  const WaitResult got = Wait(
      r.control->data, data, NowNs() + 10'000 * kMs, [&] { return r.reader.Available(4) >= 4; },
      [](bool) { return false; });
  writer.join();
  EXPECT_EQ(got, WaitResult::kReady);

  // stop() ends a wait that would otherwise last an hour; Wake() gets it out of a sleep.
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    ::usleep(30'000);
    stop.store(true);
    Wake(r.control->data, data);
  });
  const int64_t start = NowNs();
  const WaitResult stopped = Wait(
      r.control->data, data, NowNs() + 3'600'000 * kMs, [&] { return r.reader.Available(5) >= 5; },
      [&](bool) { return stop.load(); });
  stopper.join();
  EXPECT_EQ(stopped, WaitResult::kStopped);
  EXPECT_LT(NowNs() - start, 1000 * kMs);
}

TEST_P(RingWaitTest, APastDeadlineChecksOnceWithoutWaiting) {
  TestRing r(4096);
  int slow_checks = 0;
  const WaitResult w = Wait(
      r.control->data, Bell(data_fd_), std::numeric_limits<int64_t>::min(),
      [&] { return r.reader.Available(1) >= 1; },
      [&](bool slow) {
        if (slow) ++slow_checks;
        return false;
      });
  EXPECT_EQ(w, WaitResult::kTimedOut);
  EXPECT_EQ(slow_checks, 1) << "a caller polling with a past deadline must learn of a dead peer";
}

TEST(SpinBudgetTest, ShrinksWhenSpinningFailsProbesAndRecoversWhenItPays) {
  WaitWord w;
  Doorbell bell;
  bell.mode = WakeMode::kFutex;
  bell.spin_ns = 20'000;
  SpinBudget budget;
  // `ready_after` > 0: the condition turns true on that call of ready() (deterministic,
  // whatever the machine's load); 0: never.
  auto wait = [&](int ready_after) {
    int calls = 0;
    return Wait(
        w, bell, NowNs() + kMs, [&] { return ready_after > 0 && ++calls >= ready_after; },
        [](bool) { return false; }, &budget);
  };
  // Nothing arrives: each failed spin halves the budget, down to "do not spin".
  EXPECT_EQ(wait(0), WaitResult::kTimedOut);
  EXPECT_EQ(budget.current_ns, 10'000);
  for (int i = 0; i < 6; ++i) wait(0);
  EXPECT_LT(budget.current_ns, kMinSpinNs);
  // Waits that do not spin (the waiter sleeps at once) leave the budget alone...
  const int64_t shrunk = budget.current_ns;
  while (budget.waits % kSpinProbeInterval != kSpinProbeInterval - 1) {
    EXPECT_EQ(wait(0), WaitResult::kTimedOut);
    EXPECT_EQ(budget.current_ns, shrunk);
  }
  // ... but every kSpinProbeInterval-th wait probes with the full budget, and a spin that
  // ends in data restores it.
  EXPECT_EQ(wait(10), WaitResult::kReady);
  EXPECT_EQ(budget.current_ns, 20'000) << "a spin that paid off restores the full budget";
}

std::string ModeName(const ::testing::TestParamInfo<ModeCase>& info) {
  static const char* const kNames[] = {"Spin", "Futex", "EventFd", "Signal"};
  return std::string(kNames[static_cast<int>(info.param.mode)]) +
         (info.param.spin_ns > 0 ? "AfterSpin" : "");
}

INSTANTIATE_TEST_SUITE_P(Modes, RingWaitTest,
                         ::testing::Values(ModeCase{WakeMode::kSpin, 0},
                                         ModeCase{WakeMode::kFutex, 20'000},
                                         ModeCase{WakeMode::kFutex, 0},
                                         ModeCase{WakeMode::kEventFd, 0},
                                         ModeCase{WakeMode::kSignal, 0}),
                         ModeName);

// A 10-byte ring whose writer and reader have both passed 7 bytes: 10 bytes are free,
// only 3 of them before the end.
class RingAtSeven : public ::testing::Test {
 protected:
  void SetUp() override {
    w.Write("abcdefg", 7);
    w.Publish();
    char out[7];
    ASSERT_EQ(r.Available(7), 7u);
    r.Read(out, 7);
    r.Release();
  }
  RingControl control;
  std::vector<char> bytes = std::vector<char>(10);
  RingWriter w{&control, bytes.data(), bytes.size()};
  RingReader r{&control, bytes.data(), bytes.size()};
};

TEST_F(RingAtSeven, ReserveHandsOutRoomUpToTheEndAndUnreserveGivesItBack) {
  uint64_t n = 0;
  char* at = w.Reserve(w.Free(10), &n);
  ASSERT_EQ(n, 3u);
  ASSERT_EQ(at, bytes.data() + 7);
  std::memcpy(at, "xy", 2);
  w.Unreserve(1);  // the third byte was not used: it is handed out again
  at = w.Reserve(w.Free(10), &n);
  ASSERT_EQ(at, bytes.data() + 9);
  ASSERT_EQ(n, 1u);
  *at = 'z';
  at = w.Reserve(w.Free(10), &n);  // wrapped: from the start, up to the reader's head
  ASSERT_EQ(at, bytes.data());
  ASSERT_EQ(n, 7u);
  *at = 'w';
  w.Unreserve(6);
  ASSERT_TRUE(w.Publish());
  ASSERT_EQ(r.Available(4), 4u);
  char got[4];
  r.Read(got, 4);
  EXPECT_EQ(std::string(got, 4), "xyzw");
}

TEST_F(RingAtSeven, TakeHandsOutBytesUpToTheEndAndUntakeGivesThemBack) {
  ASSERT_EQ(w.Free(6), 10u);
  w.Write("hijklm", 6);  // wraps: "hij" at 7..9, "klm" at 0..2
  w.Publish();
  uint64_t n = 0;
  const char* at = r.Take(r.Available(6), &n);
  ASSERT_EQ(at, bytes.data() + 7);
  ASSERT_EQ(std::string(at, n), "hij");  // only up to the end
  r.Untake(2);  // "ij" not used: handed out again
  at = r.Take(r.Available(5), &n);
  ASSERT_EQ(std::string(at, n), "ij");
  at = r.Take(r.Available(3), &n);
  ASSERT_EQ(at, bytes.data());
  ASSERT_EQ(std::string(at, n), "klm");
  EXPECT_EQ(r.Available(1), 0u);
  // Nothing is handed back to the writer until Release().
  EXPECT_EQ(w.Free(10), 4u);
  ASSERT_TRUE(r.Release());
  EXPECT_EQ(w.Free(10), 10u);
}

// TimedLock: mutual exclusion under contention, and a waiter gives up at its deadline
// while the holder keeps the lock.
TEST(TimedLockTest, ExcludesAndHonoursDeadlines) {
  TimedLock lock;
  int64_t counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!lock.TryLock()) {
          ASSERT_TRUE(lock.LockUntil(std::numeric_limits<int64_t>::max()));
        }
        ++counter;
        lock.Unlock();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter, 4 * 20000);

  ASSERT_TRUE(lock.TryLock());
  EXPECT_FALSE(lock.TryLock());
  const int64_t start = NowNs();
  EXPECT_FALSE(lock.LockUntil(start + 50'000'000));
  EXPECT_GE(NowNs() - start, 50'000'000);
  EXPECT_FALSE(lock.LockUntil(std::numeric_limits<int64_t>::min()));
  std::thread waiter([&] {
    EXPECT_TRUE(lock.LockUntil(std::numeric_limits<int64_t>::max()));
    lock.Unlock();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  lock.Unlock();  // wakes the waiter
  waiter.join();
  EXPECT_TRUE(lock.TryLock());
  lock.Unlock();
}

}  // namespace
}  // namespace ferry::shm
