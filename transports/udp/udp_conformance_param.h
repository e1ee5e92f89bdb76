// The udp: parameters of the RPC conformance suite (tests/conformance/rpc_conformance.h),
// shared by udp_rpc_conformance_test and udp_gates_test (the load and fault suites).
#ifndef FERRY_TRANSPORTS_UDP_UDP_CONFORMANCE_PARAM_H_
#define FERRY_TRANSPORTS_UDP_UDP_CONFORMANCE_PARAM_H_

#include <string>

#include "tests/conformance/rpc_conformance.h"

namespace ferry::conformance {

// Addresses "udp://127.0.0.1:0<options>" (options: "" or "?fragment=1400&..."), the server
// in a child process for the SIGKILL and restart cases, restarted on the same port.
RpcConformanceParam UdpParam(const std::string& name = "udp", const std::string& options = "");

}  // namespace ferry::conformance

#endif  // FERRY_TRANSPORTS_UDP_UDP_CONFORMANCE_PARAM_H_
