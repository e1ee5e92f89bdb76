// Waiting for a shared-memory ring, and waking its peer: the four wake-up strategies of
// the shm transport (busy-spin, spin-then-futex, eventfd, signals).
//
// Overview: a WaitWord lives in the shared segment next to a ring index. Exactly one
// thread (of one process) may wait on a given WaitWord at a time; the other side wakes
// it after it changes the ring. The protocol is the classic "announce, re-check, sleep":
//
//   waiter                                   waker
//   seq = w.seq (acquire)                    ring index store (release)
//   w.waiting = token                        fence(seq_cst)
//   fence(seq_cst)                           if (w.waiting != 0) Wake(w):
//   if (ready()) done                           w.seq += 1; futex_wake / eventfd write /
//   block until w.seq != seq (or a wake-up)      rt_tgsigqueueinfo(waiter pid, tid)
//
// The two seq_cst fences make the store-then-load on each side a Dekker pair: either the
// waiter's re-check sees the new index, or the waker sees `waiting` and wakes it, so no
// wake-up is lost. A waker on the fast path (nobody waiting) pays one fence and one load
// of a cache line that stays shared, and makes no system call. Busy-spin mode has no
// sleeper, so it skips even the fence.
//
// A wait never blocks unboundedly: it blocks until its deadline in slices of at most
// Doorbell::slice_ns and calls `stop(true)` after each slice that ran out, which lets the
// caller notice a peer that died without saying so (SIGKILL) if nothing woke it for that.
// Whoever sets a condition stop() tests (Close(), the peer's closed flag, a hang-up) sets
// it, issues a seq_cst fence, then Wake()s: the sleeper re-checks stop(false) after its
// own fence, so that wake-up is not lost either. Spinning calls `stop(false)` (cheap:
// shared flags only) every few dozen iterations and `stop(true)` every kSpinSlowCheckNs.
//
// Signals: the waiting thread blocks `signo` in its own signal mask (once, and leaves it
// blocked), publishes its kernel thread id as the token and sleeps in sigtimedwait(2);
// the waker sends a thread-directed queued signal with rt_tgsigqueueinfo(2) to that tid
// inside the process `waiter_pid` (which the waker learned from SO_PEERCRED, never from
// shared memory, so a peer cannot direct our signals at other processes). A process that
// waits in signal mode also installs a no-op handler for `signo` if it had none, so a
// stray signal reaching a thread that does not block it cannot kill the process.
//
// Clock: deadlines are nanoseconds on CLOCK_REALTIME (the clock behind absl::Now()), so a
// caller converts an absl::Time deadline with absl::ToUnixNanos() and passes INT64_MAX
// for "no deadline". This header is free of absl on purpose: the ring and its wait code
// are also built alone with ThreadSanitizer (ring_tsan_test.sh).
#ifndef FERRY_TRANSPORTS_SHM_SHM_WAIT_H_
#define FERRY_TRANSPORTS_SHM_SHM_WAIT_H_

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>

namespace ferry::shm {

inline constexpr size_t kCacheLine = 64;

// One wait channel, in shared memory. `seq` is the futex word, bumped by every Wake().
// `waiting` is non-zero while a waiter may be asleep: 1, or its tid in signal mode.
struct alignas(kCacheLine) WaitWord {
  std::atomic<uint32_t> seq{0};
  std::atomic<uint32_t> waiting{0};
};
static_assert(sizeof(WaitWord) == kCacheLine, "one wait channel per cache line");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared atomics must be lock-free");

enum class WakeMode : uint8_t {
  kSpin = 0,     // spin until ready or the deadline; lowest latency, burns a core per waiter
  kFutex = 1,    // spin for spin_ns, then sleep on a futex on the shared seq word (default)
  kEventFd = 2,  // spin for spin_ns, then sleep in ppoll on an eventfd (and the hang-up fd)
  kSignal = 3,   // spin for spin_ns, then sleep in sigtimedwait for a queued RT signal
};
inline constexpr int kWakeModeCount = 4;

// Longest a waiter blocks before it re-checks stop(true) (Doorbell::slice_ns). A waiter
// that nothing else wakes on the peer's hang-up must poll for it: the short slice bounds
// how late a silent peer death (SIGKILL) is then noticed. A waiter that is woken on a
// hang-up (eventfd's ppoll watches the socket; futex and signal waiters have the
// process's HangupWatch) needs the slice only as a backstop, and an idle connection then
// costs no wake-ups.
inline constexpr int64_t kBlockSliceNs = 250'000'000;          // 250 ms
inline constexpr int64_t kBackstopBlockSliceNs = 5'000'000'000;  // 5 s

// How one side waits on, and rings, one WaitWord. Plain values; cheap to copy.
struct Doorbell {
  WakeMode mode = WakeMode::kFutex;
  // How long a waiter spins before it blocks (ignored by kSpin, which spins throughout).
  int64_t spin_ns = 0;
  // kEventFd: the channel's eventfd (non-blocking); both sides hold a descriptor of it.
  int event_fd = -1;
  // kEventFd: also polled while blocked, so a peer's hang-up wakes the waiter at once.
  int hangup_fd = -1;
  // kSignal: the process (thread group) whose thread waits on this channel.
  pid_t waiter_pid = 0;
  // kSignal: the real-time signal used as the doorbell.
  int signo = 0;
  // The waiter's longest sleep before it runs stop(true): kBlockSliceNs, or
  // kBackstopBlockSliceNs when a hang-up of the peer wakes it.
  int64_t slice_ns = kBlockSliceNs;
};

// Adaptive spinning, per waiter (plain local state, owned by the one thread that waits at
// a given site at a time). Spinning pays when the peer answers within the budget and has
// a core of its own to answer on; on an oversubscribed machine (say 16 busy clients on 2
// cores) a spinner only steals the core the peer needs, and throughput collapses
// (measured: 100 us spins cut 16-client throughput 5x). So: a spin that ends in data
// restores the full budget (Doorbell::spin_ns); a spin that ends in sleeping halves it;
// once it has shrunk below kMinSpinNs the waiter sleeps at once, and only every
// kSpinProbeInterval-th wait spins the full budget again to see whether things changed.
struct SpinBudget {
  int64_t current_ns = -1;  // -1: not yet initialised (starts at the doorbell's spin_ns)
  uint32_t waits = 0;
};
inline constexpr int64_t kMinSpinNs = 500;
inline constexpr uint32_t kSpinProbeInterval = 16;

// How often a spinning waiter calls stop(true) (and, in kSpin mode, yields the CPU once).
inline constexpr int64_t kSpinSlowCheckNs = 2'000'000;  // 2 ms

// A process-local mutex with a deadline, for ShmConnection::Send(). Uncontended, locking
// is one compare-and-swap and unlocking one exchange, inline: std::timed_mutex goes
// through pthread_mutex_trylock/unlock, ~60 instructions more per send on the fast path.
// Contended, waiters sleep on a private futex until their deadline (the classic
// three-state futex mutex: 0 free, 1 locked, 2 locked and maybe waited for).
class TimedLock {
 public:
  bool TryLock() {
    uint32_t free = 0;
    return state_.compare_exchange_strong(free, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  // False if `deadline_ns` (CLOCK_REALTIME ns; INT64_MAX: none) passed first.
  bool LockUntil(int64_t deadline_ns);
  void Unlock() {
    if (state_.exchange(0, std::memory_order_release) == 2) WakeOne();
  }

 private:
  void WakeOne();
  std::atomic<uint32_t> state_{0};
};

enum class WaitResult { kReady, kTimedOut, kStopped };

// CLOCK_REALTIME in nanoseconds (vDSO, no system call).
int64_t NowNs();

// a + b, saturating at INT64_MAX (deadlines are often "infinite").
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  if (b > 0 && a > std::numeric_limits<int64_t>::max() - b) {
    return std::numeric_limits<int64_t>::max();
  }
  return a + b;
}

// One pause instruction: tells the core (and its SMT sibling) that this is a spin loop.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

// Wakes the waiter of `w`, if any, unconditionally (one system call unless kSpin). Used by
// Notify() and by Close(). Safe to call when nobody waits. Never fails: a wake-up that
// cannot be delivered (peer gone, signal queue full) is covered by the waiter's slices.
void Wake(WaitWord& w, const Doorbell& bell);

// Called by the side that just changed the ring (after the release store of its index):
// wakes the other side if it announced that it may be asleep. No system call otherwise.
inline void Notify(WaitWord& w, const Doorbell& bell) {
  if (bell.mode == WakeMode::kSpin) return;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (w.waiting.load(std::memory_order_relaxed) != 0) Wake(w, bell);
}

namespace internal {
// The token a waiter publishes in WaitWord::waiting (its tid in signal mode, else 1).
uint32_t WaiterToken(const Doorbell& bell);
// Per-thread and per-process preparation before the first sleep (signal mask, handler).
void PrepareToBlock(const Doorbell& bell);
// Sleeps until woken, `seq` changes (futex), or `until_ns`. Spurious returns are fine.
// Returns true if it saw a sign of the peer's death (eventfd: the hang-up fd fired), so the
// caller runs its slow check at once.
bool BlockOnce(WaitWord& w, const Doorbell& bell, uint32_t seq, int64_t until_ns);
}  // namespace internal

// Waits until `ready()` returns true (kReady), `deadline_ns` passes (kTimedOut) or
// `stop(bool slow)` returns true (kStopped). `ready` and `stop(false)` must be cheap
// (loads of shared words); `stop(true)` may make a system call (e.g. poll a socket for a
// hang-up). A deadline already in the past checks ready() and stop(true) once. When
// stop() fires, ready() is checked once more, so data published just before the peer
// closed is still reported as kReady.
//
// `budget`, if given, makes the spin phase adaptive (see SpinBudget); without it the waiter
// spins bell.spin_ns every time.
//
// Only one thread may wait on `w` at a time. Thread-safe otherwise; lock-free.
template <typename Ready, typename Stop>
WaitResult Wait(WaitWord& w, const Doorbell& bell, int64_t deadline_ns, Ready&& ready, Stop&& stop,
                SpinBudget* budget = nullptr) {
  if (ready()) return WaitResult::kReady;
  auto stopped = [&] { return ready() ? WaitResult::kReady : WaitResult::kStopped; };
  int64_t now = NowNs();
  if (now >= deadline_ns) {
    if (stop(true)) return stopped();
    return ready() ? WaitResult::kReady : WaitResult::kTimedOut;
  }

  // Phase 1: spin. The pause loop checks the ring every iteration and the clock only every
  // 64, so a reply that arrives during the spin is seen within tens of nanoseconds.
  int64_t spin_ns = bell.spin_ns;
  bool probe = false;
  if (budget != nullptr && bell.mode != WakeMode::kSpin) {
    if (budget->current_ns < 0) budget->current_ns = bell.spin_ns;
    probe = budget->current_ns < kMinSpinNs && ++budget->waits % kSpinProbeInterval == 0;
    spin_ns = probe ? bell.spin_ns : budget->current_ns < kMinSpinNs ? 0 : budget->current_ns;
  }
  const int64_t spin_end = bell.mode == WakeMode::kSpin
                               ? deadline_ns
                               : std::min(deadline_ns, SaturatingAdd(now, spin_ns));
  auto spun_into_data = [&] {
    if (budget != nullptr && spin_ns > 0) budget->current_ns = bell.spin_ns;
    return WaitResult::kReady;
  };
  int64_t next_slow = SaturatingAdd(now, kSpinSlowCheckNs);
  while (now < spin_end) {
    for (int i = 0; i < 64; ++i) {
      CpuRelax();
      if (ready()) return spun_into_data();
    }
    if (stop(false)) return stopped();
    now = NowNs();
    if (now >= next_slow) {
      if (stop(true)) return stopped();
      next_slow = SaturatingAdd(now, kSpinSlowCheckNs);
      // A pure spinner still lets other runnable threads (on an oversubscribed machine,
      // possibly the very peer it waits for) have the core now and then.
      if (bell.mode == WakeMode::kSpin) internal::BlockOnce(w, bell, 0, 0);
    }
  }
  if (bell.mode == WakeMode::kSpin || now >= deadline_ns) {
    return ready() ? WaitResult::kReady : WaitResult::kTimedOut;
  }
  if (budget != nullptr && spin_ns > 0 && !probe) budget->current_ns /= 2;

  // Phase 2: announce, re-check, sleep; in slices, so stop(true) runs regularly. Only a
  // slice that ran out (nobody woke us) is followed by stop(true): a wait that is woken in
  // time makes no system call besides its sleep and its wake-up. A peer that died before
  // we went to sleep is therefore noticed at its hang-up's wake-up or one slice later.
  internal::PrepareToBlock(bell);
  const uint32_t token = internal::WaiterToken(bell);
  bool slice_ran_out = false;
  for (;;) {
    if (stop(slice_ran_out)) return stopped();
    const uint32_t seq = w.seq.load(std::memory_order_acquire);
    w.waiting.store(token, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ready()) {
      w.waiting.store(0, std::memory_order_relaxed);
      return WaitResult::kReady;
    }
    // A stop condition set (before a fence) by a thread that then found `waiting` still 0
    // and so sent no wake-up: seen here.
    if (stop(false)) {
      w.waiting.store(0, std::memory_order_relaxed);
      return stopped();
    }
    now = NowNs();
    if (now >= deadline_ns) {
      w.waiting.store(0, std::memory_order_relaxed);
      return WaitResult::kTimedOut;
    }
    const int64_t slice_end = std::min(deadline_ns, SaturatingAdd(now, bell.slice_ns));
    const bool hung_up = internal::BlockOnce(w, bell, seq, slice_end);
    w.waiting.store(0, std::memory_order_relaxed);
    if (ready()) return WaitResult::kReady;
    slice_ran_out = hung_up || NowNs() >= slice_end;
  }
}

}  // namespace ferry::shm

#endif  // FERRY_TRANSPORTS_SHM_SHM_WAIT_H_
