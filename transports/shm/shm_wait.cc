#include "transports/shm/shm_wait.h"

#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace ferry::shm {
namespace {

timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (ts.tv_nsec < 0) {
    ts.tv_sec -= 1;
    ts.tv_nsec += 1'000'000'000;
  }
  return ts;
}

// Relative timeout until `until_ns`, never negative.
timespec Remaining(int64_t until_ns) {
  const int64_t left = until_ns - NowNs();
  return ToTimespec(left > 0 ? left : 0);
}

uint32_t* FutexWord(WaitWord& w) {
  // std::atomic<uint32_t> is a plain 32-bit word on Linux; the futex syscall needs its
  // address. Shared (not FUTEX_PRIVATE): the kernel keys the futex by the page's backing
  // object, so both processes' mappings name the same futex.
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word layout");
  return reinterpret_cast<uint32_t*>(&w.seq);
}

void NoOpHandler(int, siginfo_t*, void*) {}

void InstallNoOpHandlerOnce(int signo) {
  // One per signal number; signal numbers are few (SIGRTMIN..SIGRTMAX <= 64).
  static std::atomic<uint64_t> installed{0};
  const uint64_t bit = uint64_t{1} << (signo & 63);
  if ((installed.load(std::memory_order_acquire) & bit) != 0) return;
  struct sigaction old;
  if (::sigaction(signo, nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
      (old.sa_flags & SA_SIGINFO) == 0) {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = NoOpHandler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(signo, &sa, nullptr);
  }
  installed.fetch_or(bit, std::memory_order_acq_rel);
}

}  // namespace

int64_t NowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void Wake(WaitWord& w, const Doorbell& bell) {
  w.seq.fetch_add(1, std::memory_order_release);
  switch (bell.mode) {
    case WakeMode::kSpin:
      return;  // a spinner sees the ring change by itself
    case WakeMode::kFutex:
      ::syscall(SYS_futex, FutexWord(w), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
      return;
    case WakeMode::kEventFd: {
      if (bell.event_fd < 0) return;
      const uint64_t one = 1;
      // Non-blocking: EAGAIN means the counter is already huge, i.e. already signalled.
      ssize_t r;
      do {
        r = ::write(bell.event_fd, &one, sizeof(one));
      } while (r < 0 && errno == EINTR);
      return;
    }
    case WakeMode::kSignal: {
      const uint32_t tid = w.waiting.load(std::memory_order_relaxed);
      if (tid == 0 || bell.waiter_pid <= 0) return;
      siginfo_t info;
      std::memset(&info, 0, sizeof(info));
      info.si_signo = bell.signo;
      info.si_code = SI_QUEUE;  // a negative code: the kernel lets us send it to another process
      info.si_pid = ::getpid();
      info.si_uid = ::getuid();
      // The tid is checked by the kernel to belong to waiter_pid, so a peer that writes a
      // foreign tid into shared memory cannot make us signal another process. ESRCH (the
      // thread left), EAGAIN (queue full: it has signals pending anyway) and EPERM (other
      // uid) all fall back on the waiter's slice timeout.
      ::syscall(SYS_rt_tgsigqueueinfo, bell.waiter_pid, static_cast<pid_t>(tid), bell.signo, &info);
      return;
    }
  }
}

bool TimedLock::LockUntil(int64_t deadline_ns) {
  if (TryLock()) return true;
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word layout");
  uint32_t* const word = reinterpret_cast<uint32_t*>(&state_);
  // Mark the lock as waited for; whoever held it wakes one of us when it unlocks.
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    if (deadline_ns != std::numeric_limits<int64_t>::max() && NowNs() >= deadline_ns) {
      return false;  // state_ may stay 2: the holder's unlock makes one needless wake call
    }
    const timespec abs = ToTimespec(deadline_ns);
    ::syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME, 2,
              deadline_ns == std::numeric_limits<int64_t>::max() ? nullptr : &abs, nullptr,
              FUTEX_BITSET_MATCH_ANY);
  }
  return true;
}

void TimedLock::WakeOne() {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1,
            nullptr, nullptr, 0);
}

namespace internal {

uint32_t WaiterToken(const Doorbell& bell) {
  if (bell.mode != WakeMode::kSignal) return 1;
  thread_local const uint32_t tid = static_cast<uint32_t>(::syscall(SYS_gettid));
  return tid;
}

void PrepareToBlock(const Doorbell& bell) {
  if (bell.mode != WakeMode::kSignal) return;
  InstallNoOpHandlerOnce(bell.signo);
  // Blocked for good in this thread: unblocking later would deliver a late doorbell to
  // the handler instead of leaving it for the next sigtimedwait, which is harmless but
  // costs a system call per wait for nothing.
  thread_local uint64_t blocked = 0;
  const uint64_t bit = uint64_t{1} << (bell.signo & 63);
  if ((blocked & bit) != 0) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, bell.signo);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  blocked |= bit;
}

bool BlockOnce(WaitWord& w, const Doorbell& bell, uint32_t seq, int64_t until_ns) {
  switch (bell.mode) {
    case WakeMode::kSpin:
      ::sched_yield();
      return false;
    case WakeMode::kFutex: {
      // Absolute CLOCK_REALTIME timeout: the deadline's own clock, no drift across retries.
      const timespec abs = ToTimespec(until_ns);
      ::syscall(SYS_futex, FutexWord(w), FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, seq, &abs,
                nullptr, FUTEX_BITSET_MATCH_ANY);
      return false;  // woken, value changed (EAGAIN), timed out or EINTR: the caller re-checks
    }
    case WakeMode::kEventFd: {
      pollfd fds[2] = {{bell.event_fd, POLLIN, 0}, {bell.hangup_fd, POLLRDHUP, 0}};
      const nfds_t n = bell.hangup_fd >= 0 ? 2 : 1;
      const timespec rel = Remaining(until_ns);
      if (::ppoll(fds, n, &rel, nullptr) <= 0) return false;
      if ((fds[0].revents & POLLIN) != 0) {
        uint64_t count;
        // Resets the counter; non-blocking, so a racing reader cannot make this block.
        (void)!::read(bell.event_fd, &count, sizeof(count));
      }
      return n == 2 && fds[1].revents != 0;
    }
    case WakeMode::kSignal: {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, bell.signo);
      const timespec rel = Remaining(until_ns);
      ::sigtimedwait(&set, nullptr, &rel);
      return false;
    }
  }
  (void)seq;
  return false;
}

}  // namespace internal
}  // namespace ferry::shm
