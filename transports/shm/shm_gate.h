// CallGate: lets Close() free what Send()/Receive() use, with no locked instruction on the
// calls' path.
//
// The same contract as transports/stream's CloseGate (the release callback runs exactly
// once, with no call inside, after Close()), specialised for a Connection's two kinds of
// calls, each made by one thread at a time: Receive() (the caller serialises it) and Send()
// (serialised by the connection's send mutex). CloseGate counts calls with an atomic
// add, which on x86 is a locked instruction (~5 ns, and a full barrier); a shm round trip
// enters and leaves a gate six times per side, which made the gate a quarter of the
// transport's own CPU cost per call (measured with perf on pingpong --cpu_cost_only).
//
// CallGate gives each kind of call a flag of its own and orders "set my flag, then look at
// `closed`" against Close()'s "set `closed`, then look at the flags" with an asymmetric
// barrier: the calls only stop the compiler from reordering; Close() makes every running
// thread of the process execute a full barrier (membarrier(2),
// MEMBARRIER_CMD_PRIVATE_EXPEDITED, a few microseconds, once per Close()). Either the call
// sees `closed` and backs out, or Close() sees the call's flag and leaves the release to
// it. Where membarrier is unavailable both sides use a seq_cst fence instead (correct,
// just as costly as CloseGate).
//
// Thread-safe under the one-thread-per-slot rule above; Close() from any thread, any
// number of times, including from inside a call (the release then runs when it leaves).
#ifndef FERRY_TRANSPORTS_SHM_SHM_GATE_H_
#define FERRY_TRANSPORTS_SHM_SHM_GATE_H_

#include <atomic>
#include <cstdint>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "runtime/barrier.h"
#include "transports/shm/shm_wait.h"

namespace ferry::shm {

class CallGate {
 public:
  enum Slot { kReceive = 0, kSend = 1 };

  // `release` frees the guarded resources; it runs at most once, with no call inside.
  explicit CallGate(absl::AnyInvocable<void()> release) : release_(std::move(release)) {}
  CallGate(const CallGate&) = delete;
  CallGate& operator=(const CallGate&) = delete;

  // False once the gate is closed: the caller must not touch the guarded resources.
  bool Enter(Slot slot) {
    busy_[slot].value.store(1, std::memory_order_relaxed);
    LightBarrier();
    if (closed_.load(std::memory_order_relaxed)) {
      Leave(slot);
      return false;
    }
    return true;
  }
  void Leave(Slot slot) {
    busy_[slot].value.store(0, std::memory_order_release);
    LightBarrier();
    if (closed_.load(std::memory_order_relaxed)) TryRelease();
  }

  // Scoped Enter/Leave.
  class Call {
   public:
    Call(CallGate& gate, Slot slot) : gate_(gate), slot_(slot), entered_(gate.Enter(slot)) {}
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    ~Call() {
      if (entered_) gate_.Leave(slot_);
    }
    bool entered() const { return entered_; }

   private:
    CallGate& gate_;
    const Slot slot_;
    const bool entered_;
  };

  // The first call runs `wake` (the resources are still alive during it) and returns true;
  // later ones return false at once. The release runs now if no call is inside, else when
  // the last one leaves.
  bool Close(absl::FunctionRef<void()> wake);

  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  struct alignas(kCacheLine) Flag {
    std::atomic<uint32_t> value{0};
  };

  // runtime/barrier.h: a compiler barrier here, membarrier(2) in Close().
  static void LightBarrier() { ::ferry::internal::LightBarrier(); }
  static void HeavyBarrier() { ::ferry::internal::HeavyBarrier(); }
  void TryRelease();

  Flag busy_[2];                      // separate lines: the two slots are usually different threads
  std::atomic<uint32_t> closers_{0};  // Close() calls in progress
  std::atomic<bool> closed_{false};
  std::atomic<bool> released_{false};
  absl::AnyInvocable<void()> release_;
};

}  // namespace ferry::shm

#endif  // FERRY_TRANSPORTS_SHM_SHM_GATE_H_
