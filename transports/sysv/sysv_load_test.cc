// The load suite (tests/load/rpc_load.h) over sysv://: 64 clients, each a reply type on
// the server's one queue, against one conformance_server child. SysV needs no per-client
// queue, so no limit stands in the way; requests and replies of all 64 share the queue's
// msgmnb bytes (16 KiB by default), which is what this test loads.
#include "tests/load/rpc_load.h"
#include "transports/sysv/sysv_rpc_param.h"

namespace ferry::conformance {
// rpc_conformance (linked for its parameters and ChildServer) defines the conformance
// suite, which this binary does not run.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RpcConformance);
}  // namespace ferry::conformance

namespace ferry::load {
namespace {

INSTANTIATE_TEST_SUITE_P(Sysv, RpcLoad, testing::Values(conformance::SysvParam("load")),
                         conformance::ParamName);

}  // namespace
}  // namespace ferry::load
