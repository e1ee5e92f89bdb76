// The registry of Ferry's built-in transports.
//
// Overview: DefaultTransports() returns one process-wide, read-only TransportRegistry
// holding every built-in transport: "unix" (UdsTransport), "tcp" (TcpTransport), "shm"
// (ShmTransport, shared-memory rings) and "inproc" (LoopbackTransport, with no fault
// injection). It is built explicitly, on first use, by this function (no
// static-initialisation registrars); later calls return the same registry. Servers and
// channels that share it find each other's "inproc:" names.
//
// To add transports or change options, build your own registry instead:
//   auto registry = std::make_shared<ferry::TransportRegistry>();
//   registry->Register(std::make_unique<ferry::UdsTransport>(uds_options));
//   registry->Register(std::make_unique<ferry::LoopbackTransport>(faults));
//
// Thread-safe.
//
// Example:
//   auto channel = ferry::Channel::Create("unix:/tmp/kv.sock", ferry::DefaultTransports());
#ifndef FERRY_TRANSPORTS_DEFAULT_TRANSPORTS_H_
#define FERRY_TRANSPORTS_DEFAULT_TRANSPORTS_H_

#include <memory>

#include "transports/transport.h"

namespace ferry {

// Never null.
std::shared_ptr<const TransportRegistry> DefaultTransports();

// Builds a new registry with every built-in transport, each with default options.
// DefaultTransports() is one of these, built once.
std::shared_ptr<TransportRegistry> NewDefaultTransportRegistry();

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_DEFAULT_TRANSPORTS_H_
