// The raw floors for "mq" and "sysv": the bare kernel message queues, no Ferry framing,
// pieces or runtime, as RawMechanisms (raw_peer.h). This is the ping-pong the IPC lectures
// teach, in the same process layout as Ferry's rows.
//
// mq (MqRawMechanism, "mq://name"): two queues per connection, created by the client
// ("/ferry-raw.<name>+<pid>.<n>.req" and ".rep", 0600) and announced to the server through
// a listening queue "/ferry-raw.<name>". One call is one mq_send + one mq_receive each way.
// SysV (SysvRawMechanism, "sysv://name"): one queue (msgget(IPC_PRIVATE), 0600, its id in
// the msgq registry as "sysvraw.<name>"), two types per connection (requests, replies);
// connection requests on type 1. One call is one msgsnd + one msgrcv each way.
//
// A message travels in the queue's message size: the first queue message carries the kind
// byte ('E' echo, 'Q' CPU request, 'Z' shut down) and the 4-byte big-endian total length,
// then as much payload as fits; longer payloads continue in further messages. Queue sizes
// are the ones Ferry uses by default (msgsize_max and msg_max, as transports/mq reads them;
// SysV min(msgmax, msg_qbytes)), so the floor and Ferry fragment alike. Blocking calls with
// no timeouts: Shutdown() posts a 'Z' to both ends to end a wait.
#ifndef FERRY_BENCH_RAW_MQ_MECHANISM_H_
#define FERRY_BENCH_RAW_MQ_MECHANISM_H_

#include <memory>

#include "bench/raw_peer.h"

namespace ferry::bench {

class MqRawMechanism final : public RawMechanism {
 public:
  absl::StatusOr<std::unique_ptr<RawListener>> Listen(const Address& address) const override;
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Connect(const Address& address,
                                                       absl::Time deadline) const override;
};

class SysvRawMechanism final : public RawMechanism {
 public:
  absl::StatusOr<std::unique_ptr<RawListener>> Listen(const Address& address) const override;
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Connect(const Address& address,
                                                       absl::Time deadline) const override;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_RAW_MQ_MECHANISM_H_
