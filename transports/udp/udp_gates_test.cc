// udp: in the cross-cutting quality-gate suites (docs/quality-gates.md): the load suite
// (tests/load/rpc_load.h: 64 clients x 10,000 calls against a conformance_server child)
// and the fault suite (tests/faults/rpc_faults.h: clients and the server SIGKILLed at
// random points), with the plain parameter of udp_rpc_conformance_test (no injected
// faults: the suites judge the transport over a real loopback, and udp_fault_test and the
// udp_lossy conformance variant cover loss).
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/faults/rpc_faults.h"
#include "tests/load/rpc_load.h"
#include "transports/udp/udp_conformance_param.h"

namespace ferry::conformance {
// rpc_conformance (linked for the parameter and ChildServer) defines the conformance
// suite, which udp_rpc_conformance_test runs.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RpcConformance);
}  // namespace ferry::conformance

namespace ferry {
namespace {

using load::RpcLoad;
using faults::RpcFaults;

// One UDP socket of this network namespace (/proc/net/udp, /proc/net/udp6).
struct UdpSocket {
  std::string local, remote;  // "0100007F:1F90" (hex address:port, as the kernel prints)
  int local_port = 0, remote_port = 0;
};

int PortOf(const std::string& hex_endpoint) {
  int port = 0;
  const size_t colon = hex_endpoint.rfind(':');
  if (colon == std::string::npos) return 0;
  return absl::SimpleHexAtoi(hex_endpoint.substr(colon + 1), &port) ? port : 0;
}

std::vector<UdpSocket> UdpSockets() {
  std::vector<UdpSocket> out;
  for (const char* file : {"/proc/net/udp", "/proc/net/udp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // the column titles
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 3) continue;
      UdpSocket s{f[1], f[2], PortOf(f[1]), PortOf(f[2])};
      out.push_back(s);
    }
  }
  return out;
}

// The Ferry objects of a udp: address are sockets bound to its port: the listener's
// (unconnected) and one per accepted client (connected to it). A connection's socket is
// what it should be while the connection lives, so only two kinds are listed: a listener
// on the port, and a per-client socket whose client is gone (its peer port has no socket
// any more: the server still holds a connection of a dead client).
faults::FaultParam UdpFaultParam() {
  faults::FaultParam p;
  p.rpc = conformance::UdpParam();
  p.leftovers = [](const std::string& bound, const std::vector<pid_t>&) {
    std::vector<std::string> out;
    const std::string target = bound.substr(0, bound.find('?'));
    int port = 0;
    if (!absl::SimpleAtoi(target.substr(target.rfind(':') + 1), &port)) {
      out.push_back("cannot parse the port of " + bound);
      return out;
    }
    const std::vector<UdpSocket> all = UdpSockets();
    std::set<int> bound_ports;
    for (const UdpSocket& s : all) bound_ports.insert(s.local_port);
    for (const UdpSocket& s : all) {
      if (s.local_port != port) continue;
      if (s.remote_port == 0) {
        out.push_back(absl::StrCat("a UDP listener on port ", port));
      } else if (bound_ports.count(s.remote_port) == 0) {
        out.push_back(absl::StrCat("a UDP socket on port ", port, " for the dead client at port ",
                                   s.remote_port));
      }
    }
    return out;
  };
  return p;
}

INSTANTIATE_TEST_SUITE_P(Udp, RpcLoad, testing::Values(conformance::UdpParam()),
                         conformance::ParamName);
INSTANTIATE_TEST_SUITE_P(Udp, RpcFaults, testing::Values(UdpFaultParam()),
                         faults::FaultParamName);

}  // namespace
}  // namespace ferry
