// The one thing POSIX mq and SysV message queues must provide to the shared code: a queue
// that sends and receives whole messages with a time limit.
//
// Overview: MsgQueue is a handle on one kernel queue. `channel` selects the messages:
// SysV uses it as the message type (msgsnd's mtype; msgrcv's msgtyp, so a negative value
// takes the lowest type up to its magnitude first); POSIX mq has one queue per destination
// and ignores it. `urgent` messages overtake ordinary ones where the mechanism can
// (POSIX: priority 1 instead of 0; SysV: the caller picks a lower type).
//
// Threading: every method may be called from several threads at once.
#ifndef FERRY_TRANSPORTS_MSGQ_QUEUE_H_
#define FERRY_TRANSPORTS_MSGQ_QUEUE_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ferry::msgq {

class MsgQueue {
 public:
  virtual ~MsgQueue() = default;

  // Sends one message of at most max_message() bytes. Waits while the queue is full, until
  // `until` (a time in the past tries once). Errors: DEADLINE_EXCEEDED (still full at
  // `until`), UNAVAILABLE (the queue was removed), RESOURCE_EXHAUSTED (message too large).
  virtual absl::Status Send(long channel, bool urgent, absl::string_view message,
                            absl::Time until) = 0;

  // Receives one message into `buf` (max_message() bytes). Waits until `until` for one (a
  // time in the past does not wait). Returns its size. Errors: DEADLINE_EXCEEDED,
  // UNAVAILABLE (the queue was removed). A wait may also end early with a kWake piece
  // posted by this process (see piece.h): callers treat it as "look around and wait again".
  virtual absl::StatusOr<size_t> Receive(long channel, char* buf, absl::Time until) = 0;

  // The largest message this queue takes (read from the kernel at run time).
  virtual size_t max_message() const = 0;
};

}  // namespace ferry::msgq

#endif  // FERRY_TRANSPORTS_MSGQ_QUEUE_H_
