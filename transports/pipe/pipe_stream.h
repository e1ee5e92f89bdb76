// PipeByteStream: the ByteStream (transports/stream) over a pair of one-way pipes or
// FIFOs, a read fd and a write fd. Shared by exec:/stdio: (anonymous pipes) and fifo:
// (named pipes); StreamConnection frames it like a socket.
//
// Internal to //transports. Pipes lack what the socket stream relies on: there is no
// shutdown(2) to wake a blocked read and no MSG_NOSIGNAL. This class makes up for both
// without a system call on the hot path, so a 64-byte round trip costs one write(2) and
// one read(2) per side, like a bare pipe ping-pong:
//
//   - SIGPIPE: Create() opens a *guard reader* on the write fd's pipe (open(2) of
//     /proc/self/fd/<write fd> for reading). While it is open the pipe always has a
//     reader, so a write can never raise SIGPIPE (nor EPIPE), whatever the host program's
//     signal disposition and masks. The peer's death is seen instead as end of stream on
//     the read fd (a dead peer closes its write end), as POLLHUP on the read fd while a
//     Send waits for room, and by a POLLHUP probe every 64th write. Where /proc is not
//     mounted (or the open is refused) the fallback blocks SIGPIPE in the calling thread
//     around each write(2) and consumes the signal on EPIPE: two more system calls per
//     write, no process-wide change either.
//   - Waking a blocked read: Shutdown() opens the *read* fd's pipe for writing through
//     /proc/self/fd and writes one byte into it. The reader wakes, sees the shut-down
//     flag and reports end of stream. The write end is opened only then, so it never
//     hides the peer's end of stream. Where that open is not possible (probed once in
//     Create()), reads fall back to ppoll(read fd, eventfd) + read: one more system call.
//   - The peer sees our end of stream at Shutdown(): our write end is replaced by the
//     eventfd with dup2(2), which drops the pipe's write reference while keeping the fd
//     number valid for racing calls (CloseGate closes the fds later).
//
// The write fd must be in non-blocking mode and its open file description private to
// this process (pipes the transport created itself, or reopened through /proc); the read
// fd in blocking mode. Finite-deadline reads use preadv2(RWF_NOWAIT) (or FIONREAD on
// kernels without it), so the read fd's blocking mode is never changed.
//
// Threading as documented on ByteStream.
#ifndef FERRY_TRANSPORTS_PIPE_PIPE_STREAM_H_
#define FERRY_TRANSPORTS_PIPE_PIPE_STREAM_H_

#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/stream/byte_stream.h"
#include "transports/stream/fd.h"
#include "transports/transport.h"

namespace ferry {

class PipeByteStream final : public ByteStream {
 public:
  struct Options {
    // Test hooks: force the fallbacks described above even where /proc works.
    bool force_sigmask_writes = false;
    bool force_poll_reads = false;
    // Runs once, on the first sign that the peer is gone (end of stream on the read fd
    // or a hang-up seen by a write) that was not caused by our own Shutdown(). Called on
    // the thread that noticed, with no lock held. May be empty.
    std::function<void()> on_peer_gone;
  };

  // Takes both fds (read: blocking; write: non-blocking, private description).
  // RESOURCE_EXHAUSTED when out of fds (the eventfd), or the errno Status.
  static absl::StatusOr<std::unique_ptr<PipeByteStream>> Create(UniqueFd read_fd,
                                                                UniqueFd write_fd,
                                                                Options options);
  static absl::StatusOr<std::unique_ptr<PipeByteStream>> Create(UniqueFd read_fd,
                                                                UniqueFd write_fd) {
    return Create(std::move(read_fd), std::move(write_fd), Options());
  }
  ~PipeByteStream() override = default;

  absl::StatusOr<size_t> Read(char* buf, size_t n, absl::Time deadline) override;
  absl::StatusOr<size_t> WriteSome(const struct iovec* iov, int iovcnt) override;
  absl::Status WaitWritable(absl::Time deadline) override;
  // Idempotent here (the seam calls it once; ExecByteStream may call it earlier when the
  // child exits).
  void Shutdown() override;

  int read_fd() const { return read_fd_.get(); }
  int write_fd() const { return write_fd_.get(); }
  // Which of the mechanisms above this stream uses (for tests and docs).
  bool guarded_writes() const { return guard_.valid(); }
  bool blocking_reads() const { return wake_by_write_; }
  // True once the peer is known to be gone (end of stream or hang-up), not counting our
  // own Shutdown().
  bool peer_gone() const { return peer_gone_.load(std::memory_order_acquire); }

 private:
  PipeByteStream(UniqueFd read_fd, UniqueFd write_fd, UniqueFd guard, UniqueFd wake,
                 bool wake_by_write, Options options);

  // A read that never blocks: bytes, 0 at end of stream, or -1 with errno (EAGAIN).
  ssize_t ReadNow(char* buf, size_t n);
  // True if the peer's write end is closed (POLLHUP on the read fd).
  bool PeerHungUp() const;
  void NotePeerGone();
  absl::StatusOr<size_t> WriteMasked(const struct iovec* iov, int iovcnt);

  UniqueFd read_fd_;
  UniqueFd write_fd_;
  UniqueFd guard_;  // reader of our own output pipe; invalid in the sigmask fallback
  UniqueFd wake_;   // eventfd: readable once Shutdown() ran
  const bool wake_by_write_;
  const Options options_;
  std::atomic<bool> shut_{false};
  std::atomic<bool> peer_gone_{false};
  std::atomic<bool> nowait_unsupported_{false};
  unsigned write_count_ = 0;  // writers are serialised by the StreamConnection
};

// Opens a new file description of the pipe or FIFO behind `fd` through /proc/self/fd,
// with `flags` (O_RDONLY / O_WRONLY, O_NONBLOCK...; O_CLOEXEC is always added). The
// errno Status if /proc is missing or the open is refused.
absl::StatusOr<UniqueFd> ReopenPipe(int fd, int flags);

// write(2) of `bytes` on a (any-mode) fd with SIGPIPE blocked in this thread for the
// call (and a resulting SIGPIPE consumed): for the few writes outside a PipeByteStream
// (handshake bytes). Returns the count written (0 if `fd` is non-blocking and the pipe is
// full) or the errno Status (EPIPE -> UNAVAILABLE).
absl::StatusOr<size_t> WriteNoSigpipe(int fd, absl::string_view bytes);

// A new pipe: {read end, write end}, both close-on-exec and blocking.
absl::StatusOr<std::pair<UniqueFd, UniqueFd>> NewPipe();

// A framed Connection (StreamConnection) over `read_fd` and `write_fd`, which must be the
// ends of two different pipes or FIFOs: sets the write fd non-blocking (its description
// must be private to this process) and builds the PipeByteStream.
absl::StatusOr<std::unique_ptr<Connection>> NewPipeConnection(
    UniqueFd read_fd, UniqueFd write_fd, std::string peer_description,
    const ConnectionLimits& limits, PipeByteStream::Options options = {});

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_PIPE_PIPE_STREAM_H_
