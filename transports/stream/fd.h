// File-descriptor plumbing shared by the fd-based transports (stream framer, Unix
// sockets, TCP, and later pipes): an owning fd, a deadline-aware poll, and the gate that
// lets Close() race with calls blocked on an fd without fd-number reuse bugs.
//
// Internal to //transports; not part of Ferry's public API.
//
// Example (the pattern every fd-owning object follows):
//   CloseGate gate_;                       // member
//   absl::Status Foo() {
//     CloseGate::Call call(gate_);
//     if (!call.entered()) return absl::UnavailableError("closed");
//     ... use fd_ ...                      // fd_ stays open while `call` lives
//   }
//   void Close() { gate_.Close([&] { ::shutdown(fd_.get(), SHUT_RDWR); }); }
//   // and the constructor gives the gate a release callback that closes fd_.
#ifndef FERRY_TRANSPORTS_STREAM_FD_H_
#define FERRY_TRANSPORTS_STREAM_FD_H_

#include <atomic>
#include <cstdint>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ferry {

// Owns one file descriptor; closes it on destruction. Move-only. -1 means none.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  // Closes the current fd (if any) and takes `fd`.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Waits until `fd` reports one of `events` (POLLIN, POLLOUT), an error or a hang-up, or
// until `deadline`. Returns OK when the fd is ready (including POLLERR/POLLHUP: the next
// read or write reports the real error), DEADLINE_EXCEEDED when `deadline` passes first
// (a deadline in the past polls once without waiting), or the ppoll error. Retries EINTR
// with the remaining time.
absl::Status WaitFd(int fd, short events, absl::Time deadline);

// Sets or clears O_NONBLOCK.
absl::Status SetNonBlocking(int fd, bool nonblocking);

// Coordinates Close() with concurrent calls on an object that owns fds.
//
// Close() must wake blocked calls (shutdown(2)) but must not close(2) the fd while a call
// may still be inside a system call on it: the number could be reused by another open()
// and the late call would then read or write someone else's file. The gate counts calls
// in flight; the release callback (which closes the fds) runs exactly once, on whichever
// thread leaves last after Close(), or inside Close() when nobody is inside.
//
// Thread-safe; lock-free (one atomic add per Enter/Leave).
class CloseGate {
 public:
  // `release` frees the guarded resources. It runs at most once, with no call inside.
  explicit CloseGate(absl::AnyInvocable<void()> release) : release_(std::move(release)) {}
  CloseGate(const CloseGate&) = delete;
  CloseGate& operator=(const CloseGate&) = delete;

  // Scoped entry. If entered() is false the gate is closed and the caller must not touch
  // the guarded resources.
  class Call {
   public:
    explicit Call(CloseGate& gate) : gate_(gate), entered_(gate.Enter()) {}
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    ~Call() {
      if (entered_) gate_.Leave();
    }
    bool entered() const { return entered_; }

   private:
    CloseGate& gate_;
    const bool entered_;
  };

  // Marks the gate closed. The first caller runs `wake` (while still counted as inside,
  // so the resources are alive) and returns true; later callers return false at once.
  // Either way the release callback has run or will run when the last call leaves.
  bool Close(absl::FunctionRef<void()> wake);

  bool closed() const { return (state_.load(std::memory_order_acquire) & kClosedBit) != 0; }

  // Unscoped entry, for a call that stays inside across returns (a Receive() whose frame
  // view must outlive a concurrent Close()). False: closed, and not entered.
  bool Enter();
  void Leave();

 private:
  static constexpr uint64_t kClosedBit = 1;
  static constexpr uint64_t kReleasedBit = 2;
  static constexpr uint64_t kOneCall = 4;

  // Bit 0: closed. Bit 1: released. Bits 2..63: calls inside (each counts kOneCall).
  std::atomic<uint64_t> state_{0};
  absl::AnyInvocable<void()> release_;
};

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_STREAM_FD_H_
