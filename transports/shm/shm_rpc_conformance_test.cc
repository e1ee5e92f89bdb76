// The RPC conformance suite (tests/conformance) over the shm transport: real stubs and a
// real Server, in one process and, for the SIGKILL and restart cases, with the server in
// a child process (tests/conformance/conformance_server, which finds "shm" in
// DefaultTransports()).
//
// Every backing x wake-up combination (12): the whole matrix takes about 20 s on the
// reference 2-core machine.
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/conformance/rpc_conformance.h"
#include "transports/shm/test_util.h"

namespace ferry::conformance {
namespace {

using ::ferry::shm::testing::Token;

RpcConformanceParam ShmParam(const std::string& backing, const std::string& wake) {
  RpcConformanceParam p;
  p.name = absl::StrCat("shm_", backing, "_", wake);
  p.make_address = [backing, wake] {
    static std::atomic<int> n{0};
    return absl::StrCat("shm://rpc-", ::getpid(), "-", Token(), "-", n.fetch_add(1),
                        "?backing=", backing, "&wake=", wake);
  };
  p.cross_process = true;
  // Not a byte stream: hostile bytes and ring indices are covered by shm_transport_test.
  p.raw_connect = nullptr;
  // An abstract name is free again the moment its server dies: the same address rebinds.
  p.rebind_address = [](const std::string& bound) { return bound; };
  return p;
}

std::vector<RpcConformanceParam> Params() {
  std::vector<RpcConformanceParam> params;
  for (const char* backing : {"memfd", "shm", "file"}) {
    for (const char* wake : {"futex", "spin", "eventfd", "signal"}) {
      params.push_back(ShmParam(backing, wake));
    }
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(Shm, RpcConformance, testing::ValuesIn(Params()), ParamName);

}  // namespace
}  // namespace ferry::conformance
