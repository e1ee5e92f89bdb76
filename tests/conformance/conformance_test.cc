// The RPC conformance suite over the built-in transports. Later transports instantiate
// the same suite in their own test targets.
#include "tests/conformance/rpc_conformance.h"

namespace ferry::conformance {
namespace {

INSTANTIATE_TEST_SUITE_P(BuiltIn, RpcConformance,
                         testing::Values(UdsParam(), TcpParam(), InprocParam()), ParamName);

}  // namespace
}  // namespace ferry::conformance
