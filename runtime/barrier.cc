#include "runtime/barrier.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ferry::internal {
namespace {

// Registers once per process; false if the kernel (or a seccomp filter) refuses, and both
// sides then use real fences.
bool RegisterMembarrier() {
  const long cmds = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

}  // namespace

bool AsymmetricBarrierAvailable() {
  static const bool ready = RegisterMembarrier();
  return ready;
}

void HeavyBarrier() {
  if (AsymmetricBarrierAvailable() &&
      ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
    return;
  }
  // Without the asymmetric barrier the light side fenced for real; pair with a fence.
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace ferry::internal
