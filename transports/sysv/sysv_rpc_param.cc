#include "transports/sysv/sysv_rpc_param.h"

#include <unistd.h>

#include <atomic>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "transports/msgq/test_registry.h"

namespace ferry::conformance {
namespace {

// Sandboxes share /tmp (the queue registry) but not pid numbers: a random token per process.
const std::string& Token() {
  static const std::string* token =
      new std::string(absl::StrCat(absl::Hex(std::random_device{}(), absl::kZeroPad8)));
  return *token;
}

}  // namespace

RpcConformanceParam SysvParam(const char* prefix) {
  RpcConformanceParam p;
  p.name = "sysv";
  p.make_address = [prefix = std::string(prefix)] {
    // Servers SIGKILLed by the suites leave records and queues: a registry removed at exit.
    msgq::UsePrivateRegistry();
    static std::atomic<int> n{0};
    return absl::StrCat("sysv://", prefix, "-", ::getpid(), "-", Token(), "-", n.fetch_add(1));
  };
  p.cross_process = true;
  // Not a byte stream: malformed pieces are covered by transports/msgq/piece_test.
  p.raw_connect = nullptr;
  // A dead server's name is reclaimed by the next Listen(): the same address rebinds.
  p.rebind_address = [](const std::string& bound) { return bound; };
  return p;
}

}  // namespace ferry::conformance
