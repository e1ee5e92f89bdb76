// ThreadSanitizer and Debian's uninstrumented Abseil (--config=tsan only; see BUILD).
//
// Why: libabsl_synchronization.so is not built with -fsanitize=thread, so TSan cannot see
// absl::Mutex, CondVar, Notification, BlockingCounter or Barrier synchronise anything
// (they use their own atomics and futexes, not pthreads, which TSan intercepts). Every
// access our code makes under an absl::Mutex then looks like a race: the first run of the
// suite under TSan reported dozens, all of this kind (e.g. WorkerPool's Condition read by
// the unlocking thread inside Mutex::UnlockSlow).
//
// What: this file interposes the synchronising entry points. The definitions here are
// linked into the executable (linkstatic), so the dynamic linker binds every call to them,
// from our code and from the library alike; each calls the real function (dlsym
// RTLD_NEXT) and tells TSan about the happens-before edge with __tsan_acquire/release on
// the object's address. The edges are deliberately conservative (an Unlock also acquires,
// because absl evaluates waiters' Conditions inside the unlocking thread): this can hide a
// race between two threads that both touch data right around one absl::Mutex, never
// invent one. std::mutex and std::condition_variable need none of this (pthreads).
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/barrier.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

void* Real(const char* mangled) {
  void* f = dlsym(RTLD_NEXT, mangled);
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in the next library: %s\n", mangled,
                 dlerror());
    std::abort();
  }
  return f;
}

#define REAL(type, mangled) \
  static const auto real = reinterpret_cast<type>(Real(mangled))

void Acquire(const void* p) { __tsan_acquire(const_cast<void*>(p)); }
void Release(const void* p) { __tsan_release(const_cast<void*>(p)); }

// Notification::HasBeenNotified() is inline: an acquire load of notified_yet_, which
// follows the Mutex. The edge must be published on that address too.
static_assert(sizeof(absl::Notification) == sizeof(absl::Mutex) + 8,
              "absl::Notification layout changed: fix NotifiedFlag()");
const void* NotifiedFlag(const absl::Notification* n) {
  return reinterpret_cast<const char*>(n) + sizeof(absl::Mutex);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

using Dur = absl::Duration;
using Tm = absl::Time;

void Mutex::Lock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  real(this);
  Acquire(this);
}
void Mutex::ReaderLock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}
bool Mutex::TryLock() {
  REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  const bool ok = real(this);
  if (ok) Acquire(this);
  return ok;
}
bool Mutex::ReaderTryLock() {
  REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool ok = real(this);
  if (ok) Acquire(this);
  return ok;
}
void Mutex::Unlock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  Acquire(this);  // waiters' Conditions are evaluated in here
  Release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  Acquire(this);
  Release(this);
  real(this);
}

// Waits with a Condition: the Condition (often on the waiter's stack) is read by whichever
// thread unlocks, so the waiter publishes first and acquires when it holds the lock again.
void Mutex::LockWhen(const Condition& c) {
  REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  Release(this);
  real(this, c);
  Acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& c) {
  REAL(void (*)(Mutex*, const Condition&),
       "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Release(this);
  real(this, c);
  Acquire(this);
}
bool Mutex::LockWhenWithTimeout(const Condition& c, Dur d) {
  REAL(bool (*)(Mutex*, const Condition&, Dur),
       "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);
  const bool r = real(this, c, d);
  Acquire(this);
  return r;
}
bool Mutex::ReaderLockWhenWithTimeout(const Condition& c, Dur d) {
  REAL(bool (*)(Mutex*, const Condition&, Dur),
       "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);
  const bool r = real(this, c, d);
  Acquire(this);
  return r;
}
bool Mutex::LockWhenWithDeadline(const Condition& c, Tm t) {
  REAL(bool (*)(Mutex*, const Condition&, Tm),
       "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  const bool r = real(this, c, t);
  Acquire(this);
  return r;
}
bool Mutex::ReaderLockWhenWithDeadline(const Condition& c, Tm t) {
  REAL(bool (*)(Mutex*, const Condition&, Tm),
       "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  const bool r = real(this, c, t);
  Acquire(this);
  return r;
}
void Mutex::Await(const Condition& c) {
  REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Release(this);
  real(this, c);
  Acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& c, Dur d) {
  REAL(bool (*)(Mutex*, const Condition&, Dur),
       "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);
  const bool r = real(this, c, d);
  Acquire(this);
  return r;
}
bool Mutex::AwaitWithDeadline(const Condition& c, Tm t) {
  REAL(bool (*)(Mutex*, const Condition&, Tm),
       "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  const bool r = real(this, c, t);
  Acquire(this);
  return r;
}

void CondVar::Wait(Mutex* mu) {
  REAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, Dur d) {
  REAL(bool (*)(CondVar*, Mutex*, Dur),
       "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  const bool r = real(this, mu, d);
  Acquire(mu);
  return r;
}
bool CondVar::WaitWithDeadline(Mutex* mu, Tm t) {
  REAL(bool (*)(CondVar*, Mutex*, Tm),
       "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  const bool r = real(this, mu, t);
  Acquire(mu);
  return r;
}

void Notification::Notify() {
  REAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv");
  Release(this);
  Release(NotifiedFlag(this));
  real(this);
}
void Notification::WaitForNotification() const {
  REAL(void (*)(const Notification*), "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  real(this);
  Acquire(this);
}
bool Notification::WaitForNotificationWithTimeout(Dur d) const {
  REAL(bool (*)(const Notification*, Dur),
       "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool r = real(this, d);
  if (r) Acquire(this);
  return r;
}
bool Notification::WaitForNotificationWithDeadline(Tm t) const {
  REAL(bool (*)(const Notification*, Tm),
       "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool r = real(this, t);
  if (r) Acquire(this);
  return r;
}

bool BlockingCounter::DecrementCount() {
  REAL(bool (*)(BlockingCounter*), "_ZN4absl7debian315BlockingCounter14DecrementCountEv");
  Release(this);
  return real(this);
}
void BlockingCounter::Wait() {
  REAL(void (*)(BlockingCounter*), "_ZN4absl7debian315BlockingCounter4WaitEv");
  real(this);
  Acquire(this);
}

bool Barrier::Block() {
  REAL(bool (*)(Barrier*), "_ZN4absl7debian37Barrier5BlockEv");
  Release(this);
  const bool r = real(this);
  Acquire(this);
  return r;
}

ABSL_NAMESPACE_END
}  // namespace absl
