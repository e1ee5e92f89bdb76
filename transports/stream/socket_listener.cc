#include "transports/stream/socket_listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "runtime/status.h"

namespace ferry {
namespace {

// accept4 errors caused by one peer (it reset or vanished during set-up, or a firewall
// rule refused it); accept(2) also lists pending network errors that surface here.
bool IsPerPeerError(int err) {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ETIMEDOUT:
      return true;
    default:
      return false;
  }
}

}  // namespace

SocketListener::SocketListener(UniqueFd listen_fd, std::string address, WrapFn wrap,
                               absl::AnyInvocable<void()> on_close)
    : fd_(std::move(listen_fd)),
      address_(std::move(address)),
      wrap_(std::move(wrap)),
      on_close_(std::move(on_close)),
      gate_([this] { fd_.reset(); }) {}

SocketListener::~SocketListener() { Close(); }

void SocketListener::Close() {
  gate_.Close([this] {
    ::shutdown(fd_.get(), SHUT_RDWR);
    // Remove the name now, not at release: a new server may want it as soon as Close()
    // returns, even while an Accept() on another thread is still unwinding.
    if (on_close_) on_close_();
  });
}

absl::StatusOr<std::unique_ptr<Connection>> SocketListener::Accept() {
  CloseGate::Call call(gate_);
  if (!call.entered()) return absl::UnavailableError(address_ + ": listener closed");
  for (;;) {
    const int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    const int err = errno;
    if (gate_.closed()) {
      if (fd >= 0) ::close(fd);
      return absl::UnavailableError(address_ + ": listener closed");
    }
    if (fd < 0) {
      if (err == EINTR || IsPerPeerError(err)) continue;
      return ErrnoStatus("accept4(" + address_ + ")", err);
    }
    absl::StatusOr<std::unique_ptr<Connection>> conn = wrap_(UniqueFd(fd));
    if (conn.ok()) return conn;
    // The peer went away while we set it up (e.g. SO_PEERCRED on a reset socket): wait
    // for the next one, as the Listener contract asks.
  }
}

}  // namespace ferry
