// The named-pipe transport: "fifo:/dir".
//
// Overview: a stream transport over FIFOs, framed by StreamConnection over the pipe byte
// stream of transports/pipe (pipe_stream.h: no SIGPIPE, no extra system call per
// message). Same-host only. See docs/pipe-transports.md.
//
// Rendezvous (everything lives in <dir>):
//   server  Listen() creates <dir> (0700) if missing, and the well-known FIFO
//           <dir>/ferry.requests (mode 0600: only the owner's processes may connect). It
//           keeps it open for reading, plus a write end of its own so that it never
//           reads end of stream between clients (and so that Close() can wake Accept()).
//   client  Connect() creates its own pair <dir>/c<pid>-<n>-<random>.up and .down
//           (mkfifo 0600), opens .up read-write (Linux: succeeds without a reader; our
//           writes wait for the server's read end) and .down for reading (non-blocking),
//           then announces them with one write(2) of "ferry-fifo1 <pid> <stem>\n", at most
//           kMaxAnnouncement bytes (<= PIPE_BUF, so concurrent announcements never
//           interleave). Connect() returns at once, like a socket connect that lands in
//           the backlog: frames sent now wait in .up until the server opens it. Until the
//           accept byte arrives the client also holds a write end of its own .down (so
//           its reads do not see end of stream before the server opens .down), and its
//           first read polls the request FIFO too: POLLERR there means the server is
//           gone (UNAVAILABLE).
//   server  Accept() reads announcements, opens <stem>.up for reading and <stem>.down for
//           writing, both O_NONBLOCK|O_NOFOLLOW (a client that died before we opened its
//           FIFOs shows as ENXIO, never as a blocked open), removes both names, writes the
//           accept byte and returns the connection.
//   client  on the accept byte (stripped from the stream) drops that extra write end and
//           the request FIFO. Closing a connection that was never accepted removes its
//           names (a later Accept() then skips the announcement).
// Cleanup: FIFO names exist only during the handshake. A client killed after announcing
//   is noticed by the server (ENXIO), which removes its FIFOs; a client killed before
//   announcing leaves its pair until the next Listen() on the directory (or the next
//   failed announcement), which removes pairs whose pid is dead (kill(pid, 0) == ESRCH),
//   and only those. Listener::Close() removes ferry.requests (if it is still the one it
//   created) and <dir> if Listen() created it and it is empty.
// Peer death: the dead side's fds close, so the other side reads end of stream
//   (UNAVAILABLE); writes never raise SIGPIPE (pipe_stream.h).
// Errors: Listen: ALREADY_EXISTS (a live server owns <dir>/ferry.requests, or it is not a
//   FIFO), PERMISSION_DENIED, INVALID_ARGUMENT (options, relative path). Connect:
//   UNAVAILABLE (no directory, no server), DEADLINE_EXCEEDED, PERMISSION_DENIED.
// PeerDescription(): "fifo:<dir> pid=<pid>" (the server side names the pid the client
//   announced, not a kernel-verified one: FIFOs carry no credentials).
#ifndef FERRY_TRANSPORTS_FIFO_FIFO_TRANSPORT_H_
#define FERRY_TRANSPORTS_FIFO_FIFO_TRANSPORT_H_

#include <limits.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/stream/fd.h"
#include "transports/transport.h"

namespace ferry {

// The largest announcement a client writes; one write(2) of up to PIPE_BUF bytes to a
// FIFO is atomic.
inline constexpr size_t kMaxAnnouncement = 128;
static_assert(kMaxAnnouncement <= PIPE_BUF, "announcements must be atomic FIFO writes");
// The request FIFO's name inside the directory.
inline constexpr char kFifoRequestsName[] = "ferry.requests";

class FifoTransport final : public Transport {
 public:
  absl::string_view scheme() const override { return "fifo"; }
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                   const ConnectionLimits& limits) override;
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                      const ConnectionLimits& limits,
                                                      absl::Time deadline) override;
};

// The rendezvous without framing, for raw peers (bench) and tests: the two fds of one
// FIFO pair, in blocking mode.
struct FifoPair {
  UniqueFd read;   // client: .down; server: .up
  UniqueFd write;  // client: .up (opened read-write); server: .down
  pid_t peer_pid = -1;  // server side: the pid the client announced
  // Client side, not yet accepted (FifoConnectRaw with wait_for_accept = false): the
  // accept byte is still to come on `read`; `hold` is our write end of .down, `requests`
  // the request FIFO, and the names <dir>/<stem>.up|.down still exist.
  UniqueFd hold;
  UniqueFd requests;
  std::string dir;
  std::string stem;
};

// Client half of the handshake. With `wait_for_accept`, blocks (until `deadline`) for the
// server's accept byte and returns an established pair (names removed); without, returns
// right after announcing (see FifoPair). Errors as FifoTransport::Connect.
absl::StatusOr<FifoPair> FifoConnectRaw(const std::string& dir, absl::Time deadline,
                                        bool wait_for_accept = true);
// The byte the server writes first on .down.
inline constexpr char kFifoAcceptByte = 'A';

// Server half: creates the request FIFO (as Listen()) and accepts pairs.
class FifoRendezvous {
 public:
  static absl::StatusOr<std::unique_ptr<FifoRendezvous>> Create(const std::string& dir);
  ~FifoRendezvous();  // Close()

  // Blocks for the next client; skips (and cleans up after) dead or malformed ones.
  // UNAVAILABLE after Close(). Thread-safe.
  absl::StatusOr<FifoPair> Accept();
  // Idempotent; wakes Accept(); removes the request FIFO (and the directory if Create()
  // made it and it is empty).
  void Close();
  const std::string& dir() const { return dir_; }

 private:
  FifoRendezvous(std::string dir, bool created_dir, UniqueFd req_r, UniqueFd req_w, dev_t dev,
                 ino_t ino);
  absl::StatusOr<FifoPair> TryAccept(absl::string_view line);

  struct State;
  std::unique_ptr<State> state_;
  const std::string dir_;
};

// Removes client FIFO pairs in `dir` whose pid is dead. Returns how many names it removed.
int SweepDeadClientFifos(const std::string& dir);

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_FIFO_FIFO_TRANSPORT_H_
