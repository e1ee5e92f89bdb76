// The RPC conformance suite (tests/conformance) over exec:/stdio:. Every channel spawns
// its own server, tests/conformance/conformance_server --address=stdio:-, and talks to it
// over the child's stdin/stdout; the SIGKILL and restart cases kill that child and check
// that the next call respawns it (RpcConformanceParam::channel_spawns_server).
#include "tests/conformance/rpc_conformance.h"
#include "transports/pipe/pipe_conformance_param.h"

namespace ferry::conformance {
namespace {

INSTANTIATE_TEST_SUITE_P(Exec, RpcConformance, testing::Values(ExecParam()), ParamName);

}  // namespace
}  // namespace ferry::conformance
