#include "transports/pipe/pipe_conformance_param.h"

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace ferry::conformance {
namespace {

std::string ServerPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "ferry",
                      "/tests/conformance/conformance_server");
}

}  // namespace

RpcConformanceParam ExecParam() {
  RpcConformanceParam p;
  p.name = "exec";
  p.make_address = [] {
    return absl::StrCat("exec:", ServerPath(), "?arg=--address=stdio:-");
  };
  p.cross_process = true;
  p.channel_spawns_server = true;
  // No raw connection: nothing else can reach a spawned child's stdin. Hostile bytes on
  // a pipe are covered by the fifo: suite, which uses the same pipe byte stream.
  p.raw_connect = nullptr;
  return p;
}

}  // namespace ferry::conformance
