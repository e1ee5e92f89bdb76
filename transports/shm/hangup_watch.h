// One thread per process that sleeps in epoll_wait(2) on the rendezvous sockets of the
// process's shm connections and reports each one's hang-up (the peer closed its socket,
// shut it down, or died) as it happens.
//
// Why: a waiter asleep on a futex or in sigtimedwait cannot also watch a socket, so
// without this it would have to wake now and then to poll for a peer killed with SIGKILL
// (which never says goodbye). With 16 idle connections, waking four times a second each
// cost about 0.4% of a core here, and over 1% on a loaded CI machine. With the watch, an
// idle connection's waiters sleep until data, Close(), a hang-up or their deadline; the
// watch thread itself sleeps until a hang-up. Its callback wakes the waiters.
//
// The thread starts with the first Watch() and lives as long as the process. A child
// made by fork() gets a watch of its own (and thread) on its first Watch().
#ifndef FERRY_TRANSPORTS_SHM_HANGUP_WATCH_H_
#define FERRY_TRANSPORTS_SHM_HANGUP_WATCH_H_

#include <cstdint>

namespace ferry::shm {

class HangupWatch {
 public:
  using Callback = void (*)(void* arg);

  // Calls `on_hangup(arg)` once, on the watch thread, when `fd` (a connected stream
  // socket) reports a hang-up (EPOLLRDHUP, EPOLLHUP or EPOLLERR). The callback must be
  // short and must not call Watch() or Unwatch(). Returns a handle for Unwatch(), or 0
  // if `fd` cannot be watched (no thread or epoll descriptor could be had, or epoll
  // refused the fd): the caller then polls for the hang-up itself.
  static uint64_t Watch(int fd, Callback on_hangup, void* arg);

  // Stops watching. When it returns, the callback for `handle` is not running and will
  // not run. Call it before `fd` is closed. A handle of 0, or one whose callback already
  // ran, is fine.
  static void Unwatch(uint64_t handle);
};

}  // namespace ferry::shm

#endif  // FERRY_TRANSPORTS_SHM_HANGUP_WATCH_H_
