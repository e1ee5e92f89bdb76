// Connection set-up for the shm transport: address options, the rendezvous socket, and
// the hand-over of a segment from client to server. Shared by ShmTransport (Ferry frames)
// and the raw ring ping-pong (raw_shm.h).
//
// Rendezvous: the server owns an abstract-namespace Unix socket "\0ferry-shm/<name>"
// (SOCK_SEQPACKET). Abstract names live in the kernel only: nothing appears in the file
// system, and the name disappears the moment the listening socket is closed, including
// when the server is killed with SIGKILL, so a restarted server can bind it again at once
// and no stale file is ever left behind. The cost is that abstract sockets have no file
// permissions: anyone in the network namespace can connect. Access control is therefore
// done by the kernel-reported peer credentials (SO_PEERCRED), on both ends:
//   - the server refuses a client whose uid is not its own or in `allowed_uids` (before it
//     reads anything from it); this is what "socket file created 0600" would give;
//   - the client refuses a server whose uid is not its own, root, or in `allowed_uids`, so
//     another user who squats the name cannot receive the client's segment.
//
// Hand-over, one message each way at most:
//   client: socket, connect, check the server's credentials, create the segment (and the
//           eventfds for wake=eventfd), send one Hello message carrying the parameters
//           (backing, wake-up, ring capacity, spin budget, signal number) with the segment
//           descriptor (+ 4 eventfds) as SCM_RIGHTS. Connect() returns here, without waiting
//           for the server: the server may not call Accept() until later, and the hello
//           waits in the socket meanwhile.
//   server: accept, check the client's credentials, receive the hello, validate it, map
//           the segment. A refused client gets a short "FERRYNAK <code> <reason>" message
//           and a hang-up. If the refusal beats the hello, Connect() returns the server's
//           status (PERMISSION_DENIED for a uid); otherwise the connection's next wait
//           reports UNAVAILABLE with the reason.
// The socket then stays open for the life of the connection, carrying nothing: its hang-up
// is how each side learns that the other closed or died (poll(2) reports POLLHUP as soon
// as the kernel closes a killed process's descriptors).
#ifndef FERRY_TRANSPORTS_SHM_SHM_SETUP_H_
#define FERRY_TRANSPORTS_SHM_SHM_SETUP_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/shm/shm_segment.h"
#include "transports/shm/shm_wait.h"
#include "transports/stream/fd.h"
#include "transports/transport.h"

namespace ferry::shm {

// Connection parameters. The client's values decide a connection; the server validates
// them against its own limits (max_ring_capacity) and otherwise adopts them.
struct ShmOptions {
  Backing backing = Backing::kMemfd;
  WakeMode wake = WakeMode::kFutex;
  // Bytes in each ring (requests, replies). Frames larger than this stream through.
  uint64_t ring_capacity = kDefaultRingCapacity;
  // How long a waiter spins before blocking; -1 picks the mode's default
  // (kDefaultFutexSpinNs for futex, 0 for eventfd and signal; spin mode spins throughout).
  int64_t spin_ns = -1;
  // Directory of backing=file segments.
  std::string file_dir = "/tmp";
  // Peer uids accepted besides our own (servers: clients; clients: servers, root is always
  // accepted as a server).
  std::vector<uid_t> allowed_uids;
  // The doorbell signal of wake=signal, SIGRTMIN + signal_offset.
  int signal_offset = 6;
  // Servers: the largest ring a client may ask for (its segment is mapped by the server).
  uint64_t max_ring_capacity = uint64_t{256} << 20;
};

inline constexpr int64_t kDefaultFutexSpinNs = 20'000;  // 20 us

// The spin budget `options` ends up with (resolving -1).
int64_t EffectiveSpinNs(const ShmOptions& options);

// Address options (all optional):
//   backing=memfd|shm|file  wake=spin|futex|eventfd|signal  ring=<bytes>[k|m]
//   spin_us=<us>  dir=<path>  uids=<uid>,<uid>...  signal=<offset from SIGRTMIN>
// Applies those present to `options`. The target must be a name of 1-64 characters from
// [A-Za-z0-9._-]. INVALID_ARGUMENT for anything else.
absl::Status ApplyAddress(const Address& address, ShmOptions* options);

enum class Side { kClient, kServer };

// Everything one side needs once set-up is done. Move-only.
struct Endpoint {
  Side side = Side::kClient;
  std::string name;  // the rendezvous name
  Segment segment;
  UniqueFd socket;  // the connected rendezvous socket: hang-up = peer gone
  // wake=eventfd: {requests.data, requests.space, replies.data, replies.space}.
  std::array<UniqueFd, 4> event_fds;
  pid_t peer_pid = 0;
  uid_t peer_uid = 0;
  Backing backing = Backing::kMemfd;
  WakeMode wake = WakeMode::kFutex;
  int64_t spin_ns = 0;
  int signo = 0;
  // "shm://name pid=12 uid=1000 backing=memfd wake=futex ring=1048576".
  std::string description;
};

// Binds and listens on the abstract rendezvous for `name`. ALREADY_EXISTS if a live
// server holds it.
absl::StatusOr<UniqueFd> ListenRendezvous(absl::string_view name, int backlog);

// The client's half of set-up (see the overview). Errors: UNAVAILABLE (nobody listening),
// PERMISSION_DENIED (the server's uid is not trusted), DEADLINE_EXCEEDED, and Segment
// creation errors.
absl::StatusOr<Endpoint> ConnectEndpoint(absl::string_view name, const ShmOptions& options,
                                         absl::Time deadline);

// The server's half of set-up for one accepted socket. Any error means "drop this peer":
// PERMISSION_DENIED (uid not allowed), INVALID_ARGUMENT (bad hello or segment),
// DEADLINE_EXCEEDED (no hello within kHelloTimeout). The peer is sent the reason first.
absl::StatusOr<Endpoint> AcceptEndpoint(UniqueFd peer, absl::string_view name,
                                        const ShmOptions& options);

// How long AcceptEndpoint waits for a connected client's hello. Clients send it right
// after connect(), so this only bounds how long a silent same-uid peer can hold Accept().
inline constexpr absl::Duration kHelloTimeout = absl::Seconds(2);

// Reads a pending refusal ("FERRYNAK <code> <reason>") from a client's rendezvous socket,
// without blocking: the server's status (e.g. PERMISSION_DENIED "uid 1001 may not connect
// to shm://x"), or OK if there is none.
absl::Status ReadRefusal(int socket_fd);

}  // namespace ferry::shm

#endif  // FERRY_TRANSPORTS_SHM_SHM_SETUP_H_
