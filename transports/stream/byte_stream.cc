#include "transports/stream/byte_stream.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "runtime/status.h"

namespace ferry {

absl::StatusOr<size_t> SocketByteStream::Read(char* buf, size_t n, absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) {
    // The hot path of a ping-pong: one blocking syscall, no poll.
    absl::StatusOr<ssize_t> r = Syscall("read", [&] { return ::read(fd_.get(), buf, n); });
    if (!r.ok()) return r.status();
    return static_cast<size_t>(*r);
  }
  for (;;) {
    if (absl::Status s = WaitFd(fd_.get(), POLLIN, deadline); !s.ok()) return s;
    // MSG_DONTWAIT: a readiness report is a hint; never let a finite deadline block.
    const ssize_t r = ::recv(fd_.get(), buf, n, MSG_DONTWAIT);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      return ErrnoStatus("recv", errno);
    }
  }
}

absl::StatusOr<size_t> SocketByteStream::WriteSome(const struct iovec* iov, int iovcnt) {
  msghdr msg{};
  msg.msg_iov = const_cast<struct iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(iovcnt);
  for (;;) {
    const ssize_t r = ::sendmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
    return ErrnoStatus("sendmsg", errno);
  }
}

absl::Status SocketByteStream::WaitWritable(absl::Time deadline) {
  return WaitFd(fd_.get(), POLLOUT, deadline);
}

void SocketByteStream::Shutdown() {
  // Errors (ENOTCONN after the peer reset) do not matter: the goal is only to wake.
  ::shutdown(fd_.get(), SHUT_RDWR);
}

}  // namespace ferry
