// An asymmetric memory barrier: a hot path that only stops the compiler, paired with a
// rare path that makes every running thread of the process execute a full barrier
// (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED: a few microseconds).
//
// For Dekker-style handshakes between a frequent side and a rare one: the frequent side
// writes its flag, LightBarrier(), reads the other's; the rare side writes its flag,
// HeavyBarrier(), reads the frequent side's. At least one of the two then sees the other's
// write, as with a seq_cst fence on both sides, but the frequent side executes no locked
// instruction (on x86 a fence or locked RMW costs ~5 ns and drains the store buffer).
// Where membarrier is unavailable (old kernel, seccomp) both functions are a seq_cst
// fence: correct, just as costly as fencing both sides.
//
// Users: ClientContext's bind/cancel handshake (runtime/context.cc) and the shared-memory
// transport's CallGate (transports/shm/shm_gate.h).
#ifndef FERRY_RUNTIME_BARRIER_H_
#define FERRY_RUNTIME_BARRIER_H_

#include <atomic>

namespace ferry::internal {

// Whether membarrier(2) is registered for this process (decided once, on first use).
bool AsymmetricBarrierAvailable();

// Inline: it sits on hot paths, and is a compiler barrier (or one fence).
inline void LightBarrier() {
  if (AsymmetricBarrierAvailable()) {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the compiler only
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

// A full barrier on every running thread of the process (or, without membarrier, on
// this one, the light side having fenced for real).
void HeavyBarrier();

}  // namespace ferry::internal

#endif  // FERRY_RUNTIME_BARRIER_H_
