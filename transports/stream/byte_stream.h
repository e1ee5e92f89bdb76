// The byte-stream seam under the stream framer: the few fd operations a StreamConnection
// needs, so one framer serves sockets (one bidirectional fd) and, later, pipes (a read
// fd + a write fd, woken by other means since pipes have no shutdown(2)).
//
// Internal to //transports. A ByteStream is driven by exactly one StreamConnection, which
// serialises Read() among readers and WriteSome()/WaitWritable() among writers, but calls
// Read() and WriteSome() concurrently with each other, and Shutdown() concurrently with
// both. The StreamConnection destroys the ByteStream (closing its fds) only once no call is
// inside it.
//
// Example:
//   int sv[2];
//   socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
//   auto stream = std::make_unique<ferry::SocketByteStream>(ferry::UniqueFd(sv[0]));
//   auto conn = ferry::StreamConnection::Create(std::move(stream), "socketpair", limits);
#ifndef FERRY_TRANSPORTS_STREAM_BYTE_STREAM_H_
#define FERRY_TRANSPORTS_STREAM_BYTE_STREAM_H_

#include <sys/uio.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "transports/stream/fd.h"

namespace ferry {

class ByteStream {
 public:
  // Closes the fds.
  virtual ~ByteStream() = default;

  // Reads up to `n` (> 0) bytes into `buf`, blocking until at least one byte is available,
  // the stream ends, or `deadline` passes. Returns the byte count, 0 at end of stream (peer
  // closed, or Shutdown() was called), DEADLINE_EXCEEDED, or the errno Status (e.g.
  // ECONNRESET -> UNAVAILABLE). With deadline == absl::InfiniteFuture() implementations
  // should make exactly one blocking system call.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n, absl::Time deadline) = 0;

  // Writes a prefix of the `iovcnt` (<= IOV_MAX) buffers without blocking. Returns the byte
  // count, 0 when the stream cannot take any byte now, or the errno Status (EPIPE ->
  // UNAVAILABLE). Never raises SIGPIPE (sockets use MSG_NOSIGNAL; a pipe implementation
  // must block SIGPIPE around its write(2) and consume a pending one, since pipes have no
  // such flag).
  virtual absl::StatusOr<size_t> WriteSome(const struct iovec* iov, int iovcnt) = 0;

  // Blocks until WriteSome() can make progress (or would fail), or `deadline`
  // (DEADLINE_EXCEEDED). Returns promptly after Shutdown().
  virtual absl::Status WaitWritable(absl::Time deadline) = 0;

  // Wakes every call blocked in Read()/WaitWritable() and makes later ones return at once
  // (Read() returns 0). The peer sees end of stream. Called at most once; keeps the fds
  // open (so a racing call never touches a reused fd number).
  virtual void Shutdown() = 0;
};

// A ByteStream over one connected stream socket (AF_UNIX or TCP). The fd must be in
// blocking mode: an infinite-deadline Read() is a single blocking read(2); finite ones
// ppoll(2) first. Writes use sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL); Shutdown() is
// shutdown(SHUT_RDWR).
class SocketByteStream final : public ByteStream {
 public:
  explicit SocketByteStream(UniqueFd fd) : fd_(std::move(fd)) {}

  absl::StatusOr<size_t> Read(char* buf, size_t n, absl::Time deadline) override;
  absl::StatusOr<size_t> WriteSome(const struct iovec* iov, int iovcnt) override;
  absl::Status WaitWritable(absl::Time deadline) override;
  void Shutdown() override;

  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_STREAM_BYTE_STREAM_H_
