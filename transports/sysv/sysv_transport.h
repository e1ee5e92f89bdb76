// The System V message-queue transport: "sysv://name".
//
// Overview: one queue per server (msgget(IPC_PRIVATE), mode 0600; its id is recorded in
// the queue registry under the name, transports/msgq/process.h), multiplexed by message
// type — the msgrcv type argument at work:
//   type 1   urgent requests (CANCEL control pieces; they overtake type 2)
//   type 2   requests: every client's data pieces, OPEN and CLOSE
//   type T   replies to one client connection, T = 16 + (client pid << 20) + n
// The server's connections read types <= 2 (msgrcv(-2)) through the leader/follower hub
// (transports/msgq/hub.h); each client reads its own type. Frames are cut into pieces of
// min(msgmax, msg_qbytes) bytes, read at run time.
//
// SysV queues have no timed operations: a send that finds the queue full retries with
// IPC_NOWAIT and a short backoff until its deadline; a timed receive blocks in msgrcv and
// a per-process watchdog thread posts a wake-up piece to the waiting type when its time is
// up. One queue carries both directions, so replies must never wait behind requests
// nobody reads: a Send() that finds the queue full drains its own side's messages into
// memory (bounded) before retrying. docs/mq-transports.md has the reasons.
//
// Cleanup: IPC_RMID when the listener and its last connection are gone; a Listen() on the
// name of a dead server removes that server's queue (only if it is ours: same owner, 0600);
// messages left for a client that closed or died are removed by whichever side is last.
//
// Errors: as mq:// (mq_transport.h). Stateless and thread-safe.
#ifndef FERRY_TRANSPORTS_SYSV_SYSV_TRANSPORT_H_
#define FERRY_TRANSPORTS_SYSV_SYSV_TRANSPORT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/transport.h"

namespace ferry {

class SysvTransport final : public Transport {
 public:
  absl::string_view scheme() const override { return "sysv"; }
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                   const ConnectionLimits& limits) override;
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                      const ConnectionLimits& limits,
                                                      absl::Time deadline) override;
};

namespace sysv {

// The system's limits, read from /proc/sys/kernel (0 when unreadable).
struct SysvLimits {
  long msgmax = 0;  // largest message
  long msgmnb = 0;  // default bytes per queue
};
SysvLimits ReadSysvLimits();

// The msqid a live server of `name` records, or NOT_FOUND (for tests and tools).
absl::StatusOr<int> RecordedQueueId(absl::string_view name);

}  // namespace sysv
}  // namespace ferry

#endif  // FERRY_TRANSPORTS_SYSV_SYSV_TRANSPORT_H_
