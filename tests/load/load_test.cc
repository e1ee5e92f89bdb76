// The load suite (rpc_load.h) over the built-in transports. A transport that lands later
// joins with one more INSTANTIATE line and its conformance parameter.
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/load/rpc_load.h"

namespace ferry::conformance {
// rpc_conformance (linked for its parameters and ChildServer) defines the conformance
// suite, which this binary does not run.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RpcConformance);
}  // namespace ferry::conformance

namespace ferry::load {
namespace {

using conformance::ParamName;
using conformance::RpcConformanceParam;

// Abstract rendezvous names are shared by parallel test sandboxes (same pids): a random
// token keeps them apart.
RpcConformanceParam ShmLoadParam(const std::string& backing, const std::string& wake) {
  RpcConformanceParam p;
  p.name = absl::StrCat("shm_", backing, "_", wake);
  p.make_address = [backing, wake] {
    static const std::string token = absl::StrCat(absl::Hex(std::random_device{}()));
    static std::atomic<int> n{0};
    return absl::StrCat("shm://load-", ::getpid(), "-", token, "-", n.fetch_add(1),
                        "?backing=", backing, "&wake=", wake);
  };
  return p;
}

INSTANTIATE_TEST_SUITE_P(Uds, RpcLoad, testing::Values(conformance::UdsParam()), ParamName);
INSTANTIATE_TEST_SUITE_P(Tcp, RpcLoad, testing::Values(conformance::TcpParam()), ParamName);
INSTANTIATE_TEST_SUITE_P(Inproc, RpcLoad, testing::Values(conformance::InprocParam()),
                         ParamName);
INSTANTIATE_TEST_SUITE_P(Shm, RpcLoad,
                         testing::Values(ShmLoadParam("memfd", "futex"),
                                         ShmLoadParam("shm", "eventfd")),
                         ParamName);

}  // namespace
}  // namespace ferry::load
