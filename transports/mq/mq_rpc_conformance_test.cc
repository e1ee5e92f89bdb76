// The RPC conformance suite (tests/conformance) over mq://: real stubs and a real Server,
// in one process and, for the SIGKILL and restart cases, with the server in a child process
// (tests/conformance/conformance_server, which finds "mq" in DefaultTransports()).
#include "tests/conformance/rpc_conformance.h"
#include "transports/mq/mq_rpc_param.h"

namespace ferry::conformance {
namespace {

INSTANTIATE_TEST_SUITE_P(Mq, RpcConformance, testing::Values(MqParam()), ParamName);

}  // namespace
}  // namespace ferry::conformance
