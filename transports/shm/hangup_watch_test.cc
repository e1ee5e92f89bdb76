// HangupWatch: one report per hang-up, none after Unwatch(), none for sockets that stay
// up, and a watch of its own in a fork()ed child.
#include "transports/shm/hangup_watch.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ferry::shm {
namespace {

struct Pair {
  int mine = -1;
  int peer = -1;
  Pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
      mine = fds[0];
      peer = fds[1];
    }
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  ~Pair() {
    if (mine >= 0) ::close(mine);
    if (peer >= 0) ::close(peer);
  }
  void ClosePeer() {
    ::close(peer);
    peer = -1;
  }
};

struct Counter {
  std::atomic<int> calls{0};
  std::atomic<bool> unwatched{false};
  std::atomic<int> calls_after_unwatch{0};
  static void Callback(void* arg) {
    auto* c = static_cast<Counter*>(arg);
    if (c->unwatched.load()) c->calls_after_unwatch.fetch_add(1);
    c->calls.fetch_add(1);
  }
};

// A socket pair whose first end is watched, reporting to `counter`.
struct Watched {
  Pair pair;
  Counter counter;
  const uint64_t handle = HangupWatch::Watch(pair.mine, &Counter::Callback, &counter);
};

// Polls `pred` for up to 10 s (the watch reports within microseconds; the bound is only
// there so that a broken watch fails the test instead of hanging it).
template <typename Pred>
bool Eventually(Pred pred) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(HangupWatchTest, ReportsAPeerThatClosesItsSocketOnce) {
  Watched w;
  ASSERT_NE(w.handle, 0u);
  w.pair.ClosePeer();
  ASSERT_TRUE(Eventually([&] { return w.counter.calls.load() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(w.counter.calls.load(), 1) << "a hang-up is reported once";
  HangupWatch::Unwatch(w.handle);  // after the report: fine
}

TEST(HangupWatchTest, ReportsAPeerThatShutsItsSocketDown) {
  Watched w;
  ASSERT_NE(w.handle, 0u);
  ASSERT_EQ(::shutdown(w.pair.peer, SHUT_RDWR), 0);
  EXPECT_TRUE(Eventually([&] { return w.counter.calls.load() == 1; }));
  HangupWatch::Unwatch(w.handle);
}

TEST(HangupWatchTest, DataFromThePeerIsNotAHangup) {
  Watched w;
  ASSERT_NE(w.handle, 0u);
  ASSERT_EQ(::write(w.pair.peer, "x", 1), 1);
  // A hang-up after it is still reported: so the data was seen and ignored, not missed.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(w.counter.calls.load(), 0);
  w.pair.ClosePeer();
  EXPECT_TRUE(Eventually([&] { return w.counter.calls.load() == 1; }));
  HangupWatch::Unwatch(w.handle);
}

TEST(HangupWatchTest, OnlyTheSocketsThatHungUpAreReported) {
  constexpr int kPairs = 40;
  std::vector<Pair> pairs(kPairs);
  std::vector<Counter> counters(kPairs);
  std::vector<uint64_t> handles;
  for (int i = 0; i < kPairs; ++i) {
    handles.push_back(HangupWatch::Watch(pairs[i].mine, &Counter::Callback, &counters[i]));
    ASSERT_NE(handles.back(), 0u);
  }
  for (int i = 0; i < kPairs; i += 3) pairs[i].ClosePeer();
  for (int i = 0; i < kPairs; i += 3) {
    EXPECT_TRUE(Eventually([&] { return counters[i].calls.load() == 1; })) << i;
  }
  for (int i = 0; i < kPairs; ++i) {
    EXPECT_EQ(counters[i].calls.load(), i % 3 == 0 ? 1 : 0) << i;
    HangupWatch::Unwatch(handles[i]);
  }
}

TEST(HangupWatchTest, NothingIsReportedAfterUnwatch) {
  Watched w;
  ASSERT_NE(w.handle, 0u);
  HangupWatch::Unwatch(w.handle);
  w.pair.ClosePeer();
  // Another watched socket's report shows the watch thread has run since.
  Watched other;
  ASSERT_NE(other.handle, 0u);
  other.pair.ClosePeer();
  ASSERT_TRUE(Eventually([&] { return other.counter.calls.load() == 1; }));
  EXPECT_EQ(w.counter.calls.load(), 0);
  HangupWatch::Unwatch(other.handle);
}

// Unwatch() racing with the hang-up's report: once Unwatch() returned, the callback has
// finished and never runs again (the owner frees what it points to right after).
TEST(HangupWatchTest, UnwatchRacingWithTheReportWaitsForIt) {
  for (int round = 0; round < 300; ++round) {
    Watched w;
    ASSERT_NE(w.handle, 0u);
    std::thread closer([&] { w.pair.ClosePeer(); });
    if (round % 2 == 0) std::this_thread::yield();
    HangupWatch::Unwatch(w.handle);
    w.counter.unwatched.store(true);
    closer.join();
    ASSERT_LE(w.counter.calls.load(), 1);
    ASSERT_EQ(w.counter.calls_after_unwatch.load(), 0) << "round " << round;
  }
}

TEST(HangupWatchTest, WhatCannotBeWatchedGetsNoHandle) {
  Counter c;
  EXPECT_EQ(HangupWatch::Watch(-1, &Counter::Callback, &c), 0u);
  // epoll refuses regular files.
  char path[] = "/tmp/ferry-hangup-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  EXPECT_EQ(HangupWatch::Watch(fd, &Counter::Callback, &c), 0u);
  ::close(fd);
  HangupWatch::Unwatch(0);  // a no-op
}

// The parent's watch thread is not in a fork()ed child; the child starts its own, and
// unwatching a handle inherited from the parent does nothing to the child's entries.
TEST(HangupWatchTest, AForkedChildGetsAWatchOfItsOwn) {
  Pair inherited;
  Counter parent_counter;
  const uint64_t parent_handle =
      HangupWatch::Watch(inherited.mine, &Counter::Callback, &parent_counter);
  ASSERT_NE(parent_handle, 0u);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(20);  // never outlive a failed test
    Pair p;
    Counter c;
    const uint64_t h = HangupWatch::Watch(p.mine, &Counter::Callback, &c);
    if (h == 0) ::_exit(2);
    HangupWatch::Unwatch(parent_handle);
    p.ClosePeer();
    ::_exit(Eventually([&] { return c.calls.load() == 1; }) ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: no watch in the child, 3: no report there";
  // The parent's entry survived the child.
  inherited.ClosePeer();
  EXPECT_TRUE(Eventually([&] { return parent_counter.calls.load() == 1; }));
  HangupWatch::Unwatch(parent_handle);
}

}  // namespace
}  // namespace ferry::shm
