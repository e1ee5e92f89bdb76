// The RPC conformance suite (tests/conformance) over sysv://: real stubs and a real Server,
// in one process and, for the SIGKILL and restart cases, with the server in a child process
// (tests/conformance/conformance_server, which finds "sysv" in DefaultTransports()).
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/conformance/rpc_conformance.h"
#include "transports/msgq/test_registry.h"

namespace ferry::conformance {
namespace {

const std::string& Token() {
  static const std::string* token =
      new std::string(absl::StrCat(absl::Hex(std::random_device{}(), absl::kZeroPad8)));
  return *token;
}

RpcConformanceParam SysvParam() {
  RpcConformanceParam p;
  p.name = "sysv";
  p.make_address = [] {
    // Servers SIGKILLed by the suite leave records and queues: a registry removed at exit.
    msgq::UsePrivateRegistry();
    static std::atomic<int> n{0};
    return absl::StrCat("sysv://rpc-", ::getpid(), "-", Token(), "-", n.fetch_add(1));
  };
  p.cross_process = true;
  p.raw_connect = nullptr;  // not a byte stream: transports/msgq/piece_test
  p.rebind_address = [](const std::string& bound) { return bound; };
  return p;
}

INSTANTIATE_TEST_SUITE_P(Sysv, RpcConformance, testing::Values(SysvParam()), ParamName);

}  // namespace
}  // namespace ferry::conformance
