// The POSIX message-queue transport: "mq://name[?msgsize=N&maxmsg=N]".
//
// Overview: the server owns a request queue "/ferry.<name>" that every client sends into;
// each client connection creates its own reply queue "/ferry.<name>+<pid>.<n>" and
// announces it in its OPEN piece. Frames are cut into pieces of the receiving queue's
// message size (transports/msgq/piece.h): a small call is exactly one mq_send and one
// mq_receive each way, like the raw ping-pong. Server connections share the request queue
// through a leader/follower hub (transports/msgq/hub.h). docs/mq-transports.md has the
// design and the reasons.
//
// Address: <name> is 1-64 of [A-Za-z0-9._-]. Options (both sides; each side uses them for
// the queue it creates):
//   msgsize=<bytes>   message size of the queue (default: /proc/sys/fs/mqueue/msgsize_max,
//                     read at run time; more needs CAP_SYS_RESOURCE -> INVALID_ARGUMENT)
//   maxmsg=<n>        messages the queue holds (default: /proc/sys/fs/mqueue/msg_max)
// Queues are created 0600. Every queue is recorded in the registry (msgq/process.h);
// Listen() removes this name's queues whose owner process is dead, and only those.
//
// Errors: Listen(): ALREADY_EXISTS (a live server has the name), RESOURCE_EXHAUSTED (the
// per-user queue memory, RLIMIT_MSGQUEUE, is used up), INVALID_ARGUMENT (bad name or
// option, or a size above the system's limit). Connect(): UNAVAILABLE (nobody listening),
// PERMISSION_DENIED (another user's queue).
//
// Stateless and thread-safe.
#ifndef FERRY_TRANSPORTS_MQ_MQ_TRANSPORT_H_
#define FERRY_TRANSPORTS_MQ_MQ_TRANSPORT_H_

#include <mqueue.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/transport.h"

namespace ferry {

class MqTransport final : public Transport {
 public:
  absl::string_view scheme() const override { return "mq"; }
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                   const ConnectionLimits& limits) override;
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                      const ConnectionLimits& limits,
                                                      absl::Time deadline) override;
};

namespace mq {

// The system's limits, read from /proc/sys/fs/mqueue (0 when unreadable).
struct MqLimits {
  long msg_max = 0;
  long msgsize_max = 0;
};
MqLimits ReadMqLimits();

// Creates queue `qname` with O_CREAT | O_EXCL | `flags`, mode exactly 0600. Sizes 0 mean
// Ferry's defaults (docs/mq-transports.md: the system's limits, within 1/`share` of
// RLIMIT_MSGQUEUE, smaller if the kernel refuses). Errors: ALREADY_EXISTS, INVALID_ARGUMENT
// (explicit sizes above the limits), RESOURCE_EXHAUSTED. Used by the transport and by the
// benchmark's raw floor, so both size their queues alike.
inline constexpr int kServerQueueShare = 8;   // a server's request queue
inline constexpr int kClientQueueShare = 96;  // a client connection's reply queue
absl::StatusOr<mqd_t> CreateMqd(const std::string& qname, long msgsize, long maxmsg, int flags,
                                int share);

}  // namespace mq
}  // namespace ferry

#endif  // FERRY_TRANSPORTS_MQ_MQ_TRANSPORT_H_
