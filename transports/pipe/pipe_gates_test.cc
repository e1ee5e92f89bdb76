// exec:/stdio: in the load suite (tests/load/rpc_load.h, docs/quality-gates.md): 64
// channels, each spawning its own conformance_server child on stdio:-, x 10,000 calls,
// with the reply checks only (there is no one server whose memory could be watched).
//
// Not in the fault suite (tests/faults/rpc_faults.h), whose scenarios need one server
// at an address that several client processes share, that can be killed and restarted
// there: an exec: server belongs to one channel. What that suite checks is covered for
// exec: elsewhere: the SIGKILLed server child (UNAVAILABLE, reaped, respawned by the next
// call) by pipe_rpc_conformance_test, and a closed or dead channel leaving no child,
// zombie or fd by exec_transport_test. See docs/quality-gates.md.
#include "tests/load/rpc_load.h"
#include "transports/pipe/pipe_conformance_param.h"

namespace ferry::conformance {
// rpc_conformance (linked for the parameter) defines the conformance suite, which
// pipe_rpc_conformance_test runs.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RpcConformance);
}  // namespace ferry::conformance

namespace ferry {
namespace {

using load::RpcLoad;

INSTANTIATE_TEST_SUITE_P(Exec, RpcLoad, testing::Values(conformance::ExecParam()),
                         conformance::ParamName);

}  // namespace
}  // namespace ferry
