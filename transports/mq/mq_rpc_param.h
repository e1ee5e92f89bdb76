// For tests: the mq:// parameter of the RPC conformance suite (tests/conformance), shared by
// mq_rpc_conformance_test and the quality-gate suites (mq_gates_test: load and faults).
//
// Every address it makes is a fresh name in a private queue registry (msgq/test_registry.h,
// set up on the first call and inherited by child servers and clients), so SIGKILLed peers
// leave nothing behind after the test process exits and parallel tests never collide.
#ifndef FERRY_TRANSPORTS_MQ_MQ_RPC_PARAM_H_
#define FERRY_TRANSPORTS_MQ_MQ_RPC_PARAM_H_

#include "tests/conformance/rpc_conformance.h"

namespace ferry::conformance {

// Addresses "mq://<prefix>-<pid>-<token>-<n>"; `prefix` tells whose test made a name.
RpcConformanceParam MqParam(const char* prefix = "rpc");

}  // namespace ferry::conformance

#endif  // FERRY_TRANSPORTS_MQ_MQ_RPC_PARAM_H_
