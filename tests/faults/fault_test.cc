// The fault suite (rpc_faults.h) over the built-in cross-process transports. The in-process
// loopback transport has no process to kill. A transport that lands later joins with one
// more INSTANTIATE line.
#include "tests/faults/rpc_faults.h"

namespace ferry::conformance {
// rpc_conformance (linked for its parameters and ChildServer) defines the conformance
// suite, which this binary does not run.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RpcConformance);
}  // namespace ferry::conformance

namespace ferry::faults {
namespace {

INSTANTIATE_TEST_SUITE_P(Uds, RpcFaults, testing::Values(UdsFaultParam()), FaultParamName);
INSTANTIATE_TEST_SUITE_P(Tcp, RpcFaults, testing::Values(TcpFaultParam()), FaultParamName);
INSTANTIATE_TEST_SUITE_P(Shm, RpcFaults,
                         testing::Values(ShmFaultParam("memfd", "futex"),
                                         ShmFaultParam("shm", "eventfd"),
                                         ShmFaultParam("file", "signal")),
                         FaultParamName);

}  // namespace
}  // namespace ferry::faults
