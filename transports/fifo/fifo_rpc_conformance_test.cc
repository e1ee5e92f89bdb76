// The RPC conformance suite (tests/conformance) over fifo:, with the server in this
// process and, for the SIGKILL and restart cases, in a child process
// (tests/conformance/conformance_server, which finds "fifo" in DefaultTransports()).
#include "tests/conformance/rpc_conformance.h"
#include "transports/fifo/fifo_conformance_param.h"

namespace ferry::conformance {
namespace {

INSTANTIATE_TEST_SUITE_P(Fifo, RpcConformance, testing::Values(FifoParam()), ParamName);

}  // namespace
}  // namespace ferry::conformance
