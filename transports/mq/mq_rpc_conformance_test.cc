// The RPC conformance suite (tests/conformance) over mq://: real stubs and a real Server,
// in one process and, for the SIGKILL and restart cases, with the server in a child process
// (tests/conformance/conformance_server, which finds "mq" in DefaultTransports()).
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/conformance/rpc_conformance.h"
#include "transports/msgq/test_registry.h"

namespace ferry::conformance {
namespace {

// Sandboxes share /tmp (the queue registry) but not pid numbers: a random token per process.
const std::string& Token() {
  static const std::string* token =
      new std::string(absl::StrCat(absl::Hex(std::random_device{}(), absl::kZeroPad8)));
  return *token;
}

RpcConformanceParam MqParam() {
  RpcConformanceParam p;
  p.name = "mq";
  p.make_address = [] {
    // Servers SIGKILLed by the suite leave records and queues: a registry removed at exit.
    msgq::UsePrivateRegistry();
    static std::atomic<int> n{0};
    return absl::StrCat("mq://rpc-", ::getpid(), "-", Token(), "-", n.fetch_add(1));
  };
  p.cross_process = true;
  // Not a byte stream: malformed pieces are covered by transports/msgq/piece_test.
  p.raw_connect = nullptr;
  // A dead server's name is reclaimed by the next Listen(): the same address rebinds.
  p.rebind_address = [](const std::string& bound) { return bound; };
  return p;
}

INSTANTIATE_TEST_SUITE_P(Mq, RpcConformance, testing::Values(MqParam()), ParamName);

}  // namespace
}  // namespace ferry::conformance
