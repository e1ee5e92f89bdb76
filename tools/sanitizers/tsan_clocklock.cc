// ThreadSanitizer and std::timed_mutex (--config=tsan only; see BUILD).
//
// libstdc++ 12 implements std::timed_mutex::try_lock_for/try_lock_until on the steady
// clock with pthread_mutex_clocklock(), which neither gcc 12's nor clang 14's TSan runtime
// intercepts: TSan never sees the lock taken, then reports "unlock of an unlocked mutex"
// at the unlock, and would see every access made under that lock as unprotected. (First
// seen: MsgqConnection::Close, transports/msgq/msgq_connection.cc, in mq/sysv tests; the
// shm and stream connections take the same path when a Send() waits for another.)
//
// This definition, linked into the executable, takes precedence over glibc's: it turns the
// call into pthread_mutex_timedlock() on CLOCK_REALTIME, which TSan does intercept. The
// deadline is converted once; a wall-clock jump during the wait shifts it, which only
// matters in a TSan build.
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include <cstdint>

extern "C" int pthread_mutex_clocklock(pthread_mutex_t* mutex, clockid_t clock,
                                       const struct timespec* abstime) {
  if (clock == CLOCK_REALTIME) return pthread_mutex_timedlock(mutex, abstime);
  if (clock != CLOCK_MONOTONIC) return EINVAL;
  timespec now_clock, now_real;
  clock_gettime(clock, &now_clock);
  clock_gettime(CLOCK_REALTIME, &now_real);
  const int64_t left_ns = (int64_t{abstime->tv_sec} - now_clock.tv_sec) * 1000000000 +
                          (abstime->tv_nsec - now_clock.tv_nsec);
  const int64_t real_ns = int64_t{now_real.tv_sec} * 1000000000 + now_real.tv_nsec +
                          (left_ns > 0 ? left_ns : 0);
  timespec deadline;
  deadline.tv_sec = real_ns / 1000000000;
  deadline.tv_nsec = real_ns % 1000000000;
  return pthread_mutex_timedlock(mutex, &deadline);
}
