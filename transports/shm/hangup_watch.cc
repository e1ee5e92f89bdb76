#include "transports/shm/hangup_watch.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <unordered_map>

namespace ferry::shm {
namespace {

struct Entry {
  int fd;
  HangupWatch::Callback on_hangup;
  void* arg;
};

// One per process, never freed: the thread may be inside epoll_wait at exit.
struct Watcher {
  int epfd = -1;
  std::mutex mu;  // guards the rest; held while a callback runs
  std::unordered_map<uint64_t, Entry> entries;
  bool broken = false;  // epoll_wait failed for good; nothing is reported any more
};

std::mutex g_mu;  // guards g_watcher
Watcher* g_watcher = nullptr;
// Process-wide and carried over by fork(): a child's handles never equal those of Links
// it inherited from its parent, so unwatching one of those cannot hit a child's entry.
std::atomic<uint64_t> g_next_handle{1};

void* Run(void* p) {
  Watcher* w = static_cast<Watcher*>(p);
  epoll_event events[32];
  for (;;) {
    const int n = ::epoll_wait(w->epfd, events, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::lock_guard<std::mutex> lock(w->mu);
      w->broken = true;  // cannot happen with a valid epfd; callers fall back on polling
      return nullptr;
    }
    std::lock_guard<std::mutex> lock(w->mu);
    for (int i = 0; i < n; ++i) {
      // A handle that is gone was unwatched after epoll_wait returned (its fd number may
      // already name another socket): handles, not fds, identify the entries.
      // (A copy: epoll_event is packed on x86-64, so its u64 may be misaligned.)
      const uint64_t handle = events[i].data.u64;
      auto it = w->entries.find(handle);
      if (it == w->entries.end()) continue;
      ::epoll_ctl(w->epfd, EPOLL_CTL_DEL, it->second.fd, nullptr);
      it->second.on_hangup(it->second.arg);
      w->entries.erase(it);
    }
  }
}

// The fork()ed child has no watch thread: it starts afresh. The parent's epoll instance
// stays the parent's (its descriptor is closed in the child only).
void PrepareFork() { g_mu.lock(); }
void ParentAfterFork() { g_mu.unlock(); }
void ChildAfterFork() {
  if (g_watcher != nullptr) ::close(g_watcher->epfd);
  g_watcher = nullptr;  // leaked: its mutex may have been held by a thread that is gone
  g_mu.unlock();
}

// The process's watcher, started on first use; nullptr if it cannot be started.
Watcher* GetOrStart() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_watcher != nullptr) return g_watcher;
  static const bool atfork_registered =
      ::pthread_atfork(PrepareFork, ParentAfterFork, ChildAfterFork) == 0;
  if (!atfork_registered) return nullptr;
  const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return nullptr;
  auto* w = new Watcher;
  w->epfd = epfd;
  // The thread takes no signals (it inherits this mask): a process-directed signal meant
  // for the application, or a doorbell, must go to a thread that expects it.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  ::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  ::pthread_attr_setstacksize(&attr, 64 << 10);
  pthread_t thread;
  const int rc = ::pthread_create(&thread, &attr, Run, w);
  ::pthread_attr_destroy(&attr);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) {
    ::close(epfd);
    delete w;
    return nullptr;
  }
  ::pthread_setname_np(thread, "ferry-hangup");
  g_watcher = w;
  return w;
}

}  // namespace

uint64_t HangupWatch::Watch(int fd, Callback on_hangup, void* arg) {
  Watcher* w = GetOrStart();
  if (w == nullptr) return 0;
  std::lock_guard<std::mutex> lock(w->mu);
  if (w->broken) return 0;
  const uint64_t handle = g_next_handle.fetch_add(1, std::memory_order_relaxed);
  epoll_event ev{};
  // One report: the entry is removed when it fires. EPOLLHUP and EPOLLERR are implied.
  ev.events = EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = handle;
  if (::epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return 0;
  w->entries.emplace(handle, Entry{fd, on_hangup, arg});
  return handle;
}

void HangupWatch::Unwatch(uint64_t handle) {
  if (handle == 0) return;
  Watcher* w;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    w = g_watcher;  // in a fork()ed child, a fresh one (or none): the handle is not in it
  }
  if (w == nullptr) return;
  std::lock_guard<std::mutex> lock(w->mu);
  auto it = w->entries.find(handle);
  if (it == w->entries.end()) return;
  ::epoll_ctl(w->epfd, EPOLL_CTL_DEL, it->second.fd, nullptr);
  w->entries.erase(it);
}

}  // namespace ferry::shm
