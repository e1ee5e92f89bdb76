#include "transports/shm/shm_gate.h"

namespace ferry::shm {

bool CallGate::Close(absl::FunctionRef<void()> wake) {
  // Counted as inside while it runs: `wake` wakes the calls, and the last of them to leave
  // must not release the resources under `wake`'s feet. (Closing is rare: a locked add is
  // fine here.)
  closers_.fetch_add(1, std::memory_order_acq_rel);
  const bool first = !closed_.exchange(true, std::memory_order_acq_rel);
  if (first) {
    // After this, every call either saw `closed_` or has its flag visible to TryRelease().
    HeavyBarrier();
    wake();
  }
  closers_.fetch_sub(1, std::memory_order_acq_rel);
  TryRelease();
  return first;
}

void CallGate::TryRelease() {
  // Two calls leaving at once after Close() each stored 0 to their own flag and now read
  // the other's: a real fence, so at least one of them sees both flags clear. Only on the
  // closing path.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (busy_[kReceive].value.load(std::memory_order_acquire) != 0 ||
      busy_[kSend].value.load(std::memory_order_acquire) != 0 ||
      closers_.load(std::memory_order_acquire) != 0) {
    return;  // the one still inside releases when it leaves
  }
  if (!released_.exchange(true, std::memory_order_acq_rel)) release_();
}

}  // namespace ferry::shm
