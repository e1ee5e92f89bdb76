#include "transports/shm/shm_transport.h"

#include <string>
#include <utility>

#include "transports/shm/shm_connection.h"
#include "transports/stream/socket_listener.h"

namespace ferry {
namespace {

constexpr int kBacklog = 128;

}  // namespace

absl::StatusOr<std::unique_ptr<Listener>> ShmTransport::Listen(const Address& address,
                                                               const ConnectionLimits& limits) {
  Options options = options_;
  if (absl::Status s = shm::ApplyAddress(address, &options); !s.ok()) return s;
  absl::StatusOr<UniqueFd> fd = shm::ListenRendezvous(address.target, kBacklog);
  if (!fd.ok()) return fd.status();
  Address canonical = address;
  canonical.slashes = true;
  const std::string name = address.target;
  auto wrap = [name, options,
               limits](UniqueFd peer) -> absl::StatusOr<std::unique_ptr<Connection>> {
    absl::StatusOr<shm::Endpoint> ep = shm::AcceptEndpoint(std::move(peer), name, options);
    if (!ep.ok()) return ep.status();
    return std::unique_ptr<Connection>(shm::ShmConnection::Create(*std::move(ep), limits));
  };
  // Nothing to remove on close: the abstract name vanishes with the socket.
  return std::unique_ptr<Listener>(std::make_unique<SocketListener>(
      *std::move(fd), canonical.ToString(), std::move(wrap), nullptr));
}

absl::StatusOr<std::unique_ptr<Connection>> ShmTransport::Connect(const Address& address,
                                                                  const ConnectionLimits& limits,
                                                                  absl::Time deadline) {
  Options options = options_;
  if (absl::Status s = shm::ApplyAddress(address, &options); !s.ok()) return s;
  absl::StatusOr<shm::Endpoint> ep = shm::ConnectEndpoint(address.target, options, deadline);
  if (!ep.ok()) return ep.status();
  return std::unique_ptr<Connection>(shm::ShmConnection::Create(*std::move(ep), limits));
}

}  // namespace ferry
