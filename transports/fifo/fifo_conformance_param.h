// The fifo: parameter of the RPC conformance suite (tests/conformance/rpc_conformance.h),
// shared by fifo_rpc_conformance_test and fifo_gates_test (the load and fault suites).
#ifndef FERRY_TRANSPORTS_FIFO_FIFO_CONFORMANCE_PARAM_H_
#define FERRY_TRANSPORTS_FIFO_FIFO_CONFORMANCE_PARAM_H_

#include "tests/conformance/rpc_conformance.h"

namespace ferry::conformance {

// Addresses "fifo:<dir>/s<pid>-<n>": a fresh subdirectory of one temporary directory per
// test process (removed at exit, with whatever a SIGKILLed server child left in it).
RpcConformanceParam FifoParam();

}  // namespace ferry::conformance

#endif  // FERRY_TRANSPORTS_FIFO_FIFO_CONFORMANCE_PARAM_H_
