// The RPC conformance suite (tests/conformance) over sysv://: real stubs and a real Server,
// in one process and, for the SIGKILL and restart cases, with the server in a child process
// (tests/conformance/conformance_server, which finds "sysv" in DefaultTransports()).
#include "tests/conformance/rpc_conformance.h"
#include "transports/sysv/sysv_rpc_param.h"

namespace ferry::conformance {
namespace {

INSTANTIATE_TEST_SUITE_P(Sysv, RpcConformance, testing::Values(SysvParam()), ParamName);

}  // namespace
}  // namespace ferry::conformance
