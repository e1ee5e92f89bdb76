#include "transports/fifo/fifo_conformance_param.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"

namespace ferry::conformance {
namespace {

// One directory per test process; each address is a fresh subdirectory (the listener
// creates it and removes it when it closes, but a SIGKILLed server child cannot).
const std::string& Dir() {
  static const std::string* dir = [] {
    char tmpl[] = "/tmp/ferry-fifo-conf.XXXXXX";
    auto* d = new std::string(mkdtemp(tmpl));
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(Dir(), ignored);
    });
    return d;
  }();
  return *dir;
}

}  // namespace

RpcConformanceParam FifoParam() {
  RpcConformanceParam p;
  p.name = "fifo";
  p.make_address = [] {
    static std::atomic<int> n{0};
    return absl::StrCat("fifo:", Dir(), "/s", getpid(), "-", n.fetch_add(1));
  };
  // The raw tests send() on one socket; a FIFO connection is two one-way fds. Hostile
  // bytes on a fifo: connection are covered by fifo_transport_test (transport suite).
  p.raw_connect = nullptr;
  p.rebind_address = [](const std::string& bound) { return bound; };
  return p;
}

}  // namespace ferry::conformance
