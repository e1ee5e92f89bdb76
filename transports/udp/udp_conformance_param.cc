#include "transports/udp/udp_conformance_param.h"

#include "absl/strings/str_cat.h"

namespace ferry::conformance {

RpcConformanceParam UdpParam(const std::string& name, const std::string& options) {
  RpcConformanceParam p;
  p.name = name;
  p.make_address = [options] { return absl::StrCat("udp://127.0.0.1:0", options); };
  p.cross_process = true;
  // Not a byte stream: hostile datagrams are covered by udp_transport_test.
  p.raw_connect = nullptr;
  // The restarted server binds the same port (the dead one's sockets are gone).
  p.rebind_address = [](const std::string& bound) { return bound; };
  return p;
}

}  // namespace ferry::conformance
