#include "transports/default_transports.h"

#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "transports/fifo/fifo_transport.h"
#include "transports/loopback/loopback_transport.h"
#include "transports/pipe/exec_transport.h"
#include "transports/pipe/stdio_transport.h"
#include "transports/mq/mq_transport.h"
#include "transports/shm/shm_transport.h"
#include "transports/sysv/sysv_transport.h"
#include "transports/tcp/tcp_transport.h"
#include "transports/udp/udp_transport.h"
#include "transports/uds/uds_transport.h"

namespace ferry {
namespace {

void MustRegister(TransportRegistry& registry, std::unique_ptr<Transport> transport) {
  absl::Status s = registry.Register(std::move(transport));
  // Only reachable if two built-ins claim one scheme: a bug in this file, caught by the
  // first test that calls it.
  ABSL_RAW_CHECK(s.ok(), "built-in transports must have distinct schemes");
}

}  // namespace

std::shared_ptr<TransportRegistry> NewDefaultTransportRegistry() {
  auto registry = std::make_shared<TransportRegistry>();
  MustRegister(*registry, std::make_unique<UdsTransport>());
  MustRegister(*registry, std::make_unique<TcpTransport>());
  MustRegister(*registry, std::make_unique<LoopbackTransport>());
  MustRegister(*registry, std::make_unique<ShmTransport>());
  MustRegister(*registry, std::make_unique<ExecTransport>());
  MustRegister(*registry, std::make_unique<StdioTransport>());
  MustRegister(*registry, std::make_unique<FifoTransport>());
  MustRegister(*registry, std::make_unique<MqTransport>());
  MustRegister(*registry, std::make_unique<SysvTransport>());
  MustRegister(*registry, std::make_unique<UdpTransport>());
  return registry;
}

std::shared_ptr<const TransportRegistry> DefaultTransports() {
  // Built on first use (thread-safe function-local static), never destroyed, so it is
  // still valid for servers and channels torn down during static destruction.
  static const auto* const registry =
      new std::shared_ptr<const TransportRegistry>(NewDefaultTransportRegistry());
  return *registry;
}

}  // namespace ferry
