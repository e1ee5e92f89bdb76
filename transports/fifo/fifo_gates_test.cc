// fifo: in the cross-cutting quality-gate suites (docs/quality-gates.md): the load suite
// (tests/load/rpc_load.h: 64 clients x 10,000 calls against a conformance_server child)
// and the fault suite (tests/faults/rpc_faults.h: clients and the server SIGKILLed at
// random points), with the parameter of fifo_rpc_conformance_test.
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/faults/rpc_faults.h"
#include "tests/load/rpc_load.h"
#include "transports/fifo/fifo_conformance_param.h"
#include "transports/fifo/fifo_transport.h"

namespace ferry::conformance {
// rpc_conformance (linked for the parameter and ChildServer) defines the conformance
// suite, which fifo_rpc_conformance_test runs.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RpcConformance);
}  // namespace ferry::conformance

namespace ferry {
namespace {

using load::RpcLoad;
using faults::RpcFaults;

std::string DirOf(const std::string& bound) { return bound.substr(bound.find(':') + 1); }

// Every Ferry object of a fifo: address lives in its directory: the request FIFO, and
// client pairs "c<pid>-<n>-<hex>.up|.down" (which exist only during a handshake, or after
// a client died before announcing, until the next Listen() sweeps them).
faults::FaultParam FifoFaultParam() {
  faults::FaultParam p;
  p.rpc = conformance::FifoParam();
  p.leftovers = [](const std::string& bound, const std::vector<pid_t>&) {
    const std::string dir = DirOf(bound);
    std::vector<std::string> out;
    struct stat st;
    const std::string requests = absl::StrCat(dir, "/", kFifoRequestsName);
    if (::lstat(requests.c_str(), &st) == 0) out.push_back("request FIFO " + requests);
    for (std::string& f : faults::FilesWithPrefix(dir, "c")) {
      out.push_back("client FIFO " + f);
    }
    return out;
  };
  // Nobody removes a FIFO's name when its process dies: the request FIFO stays until the
  // next Listen() on the directory finds it unread (ENXIO) and replaces it.
  p.left_by_killed_server = [](const std::string& bound) {
    return std::vector<std::string>{
        absl::StrCat("request FIFO ", DirOf(bound), "/", kFifoRequestsName)};
  };
  return p;
}

INSTANTIATE_TEST_SUITE_P(Fifo, RpcLoad, testing::Values(conformance::FifoParam()),
                         conformance::ParamName);
INSTANTIATE_TEST_SUITE_P(Fifo, RpcFaults, testing::Values(FifoFaultParam()),
                         faults::FaultParamName);

}  // namespace
}  // namespace ferry
