#include "transports/stream/fd.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "runtime/status.h"

namespace ferry {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) {
    // Never retry close() on EINTR: on Linux the fd is already gone and a retry could
    // close a number another thread has just been given.
    ::close(fd_);
  }
  fd_ = fd;
}

absl::Status WaitFd(int fd, short events, absl::Time deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    timespec ts;
    timespec* timeout = nullptr;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
      ts = absl::ToTimespec(left);
      timeout = &ts;
    }
    const int r = ::ppoll(&p, 1, timeout, nullptr);
    if (r > 0) return absl::OkStatus();
    if (r == 0) {
      // ppoll may wake a little early on coarse clocks; only report expiry once it is real.
      if (absl::Now() >= deadline) return absl::DeadlineExceededError("deadline exceeded");
      continue;
    }
    if (errno == EINTR) continue;
    return ErrnoStatus("ppoll", errno);
  }
}

absl::Status SetNonBlocking(int fd, bool nonblocking) {
  absl::StatusOr<int> flags = Syscall("fcntl(F_GETFL)", [&] { return ::fcntl(fd, F_GETFL); });
  if (!flags.ok()) return flags.status();
  const int want = nonblocking ? (*flags | O_NONBLOCK) : (*flags & ~O_NONBLOCK);
  if (want == *flags) return absl::OkStatus();
  return Syscall("fcntl(F_SETFL)", [&] { return ::fcntl(fd, F_SETFL, want); }).status();
}

bool CloseGate::Enter() {
  const uint64_t prev = state_.fetch_add(kOneCall, std::memory_order_acq_rel);
  if ((prev & kClosedBit) != 0) {
    Leave();
    return false;
  }
  return true;
}

void CloseGate::Leave() {
  const uint64_t prev = state_.fetch_sub(kOneCall, std::memory_order_acq_rel);
  // The last one out of a closed gate releases. The count can reach zero more than once
  // after Close(): a latecomer bounced by Enter() briefly raises it again. The released
  // bit makes sure only one of them runs the callback.
  if ((prev & ~kReleasedBit) == (kClosedBit | kOneCall) && (prev & kReleasedBit) == 0) {
    const uint64_t before = state_.fetch_or(kReleasedBit, std::memory_order_acq_rel);
    if ((before & kReleasedBit) == 0) release_();
  }
}

bool CloseGate::Close(absl::FunctionRef<void()> wake) {
  // Enter first so the resources cannot be released under `wake`.
  state_.fetch_add(kOneCall, std::memory_order_acq_rel);
  const uint64_t prev = state_.fetch_or(kClosedBit, std::memory_order_acq_rel);
  const bool first = (prev & kClosedBit) == 0;
  if (first) wake();
  Leave();
  return first;
}

}  // namespace ferry
