// SocketListener: the ferry::Listener of every socket transport (Unix, TCP, ...).
//
// Internal to //transports. A transport binds and listens, then hands the listening fd to
// a SocketListener together with two callbacks: `wrap` turns an accepted socket into a
// Connection (reading peer credentials, setting socket options), and `on_close` removes
// what the listener created in the file system.
//
// Accept() blocks in accept4(2) (no poll on the hot path). Close() wakes it with
// shutdown(2), which makes a blocked accept on Linux return EINVAL for both AF_UNIX and
// TCP; the fd itself is closed only once no Accept() is inside (see CloseGate).
//
// Example:
//   return std::make_unique<SocketListener>(
//       std::move(fd), "unix:/tmp/s.sock",
//       [limits](UniqueFd peer) { return WrapPeer(std::move(peer), limits); },
//       [path] { ::unlink(path.c_str()); });
#ifndef FERRY_TRANSPORTS_STREAM_SOCKET_LISTENER_H_
#define FERRY_TRANSPORTS_STREAM_SOCKET_LISTENER_H_

#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "transports/stream/fd.h"
#include "transports/transport.h"

namespace ferry {

class SocketListener final : public Listener {
 public:
  // Builds the Connection for one accepted socket (blocking mode, close-on-exec). An error
  // means "skip this peer": Accept() drops it and keeps waiting. Called concurrently when
  // several threads Accept(), so it must be thread-safe.
  using WrapFn = absl::AnyInvocable<absl::StatusOr<std::unique_ptr<Connection>>(UniqueFd) const>;

  // `listen_fd`: bound and listening, blocking mode. `address`: what address() returns.
  // `on_close` runs once, in the first Close(), after Accept() has been woken.
  SocketListener(UniqueFd listen_fd, std::string address, WrapFn wrap,
                 absl::AnyInvocable<void()> on_close);
  // Closes.
  ~SocketListener() override;

  // Errors: UNAVAILABLE after Close(); RESOURCE_EXHAUSTED when out of fds or memory (the
  // pending peer stays queued, so the caller should back off before retrying); other
  // accept4 errors that are not about one peer.
  absl::StatusOr<std::unique_ptr<Connection>> Accept() override;
  void Close() override;
  std::string address() const override { return address_; }

 private:
  UniqueFd fd_;
  const std::string address_;
  const WrapFn wrap_;
  absl::AnyInvocable<void()> on_close_;
  CloseGate gate_;
};

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_STREAM_SOCKET_LISTENER_H_
