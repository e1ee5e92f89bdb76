// The exec: parameter of the RPC conformance suite (tests/conformance/rpc_conformance.h),
// shared by pipe_rpc_conformance_test and pipe_gates_test (the load suite).
#ifndef FERRY_TRANSPORTS_PIPE_PIPE_CONFORMANCE_PARAM_H_
#define FERRY_TRANSPORTS_PIPE_PIPE_CONFORMANCE_PARAM_H_

#include "tests/conformance/rpc_conformance.h"

namespace ferry::conformance {

// "exec:<runfiles>/tests/conformance/conformance_server?arg=--address=stdio:-": every
// channel spawns its own server (RpcConformanceParam::channel_spawns_server); the test
// lists //tests/conformance:conformance_server in its data.
RpcConformanceParam ExecParam();

}  // namespace ferry::conformance

#endif  // FERRY_TRANSPORTS_PIPE_PIPE_CONFORMANCE_PARAM_H_
