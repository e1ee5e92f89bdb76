// Raw floors of the pipe mechanisms: a bare pipe ping-pong with the exec:/stdio: set-up
// (anonymous pipes to a spawned child) and with the fifo: rendezvous (named pipes).
//
// Overview: the same pipes Ferry's transports use, set up by the transports' own code
// (SpawnWithPipes / TakeOverStdio, FifoConnectRaw / FifoRendezvous), then the raw
// protocol of raw_peer.h as on a socket (raw_stream.h): a 4-byte big-endian length and
// the payload, written with one writev(2), read into a 64 KiB buffer. A 64-byte round
// trip is one write(2) and one read(2) per side. Like the transports, each end holds a
// reader of its own output pipe (so writes never raise SIGPIPE: set-up cost only) and
// writes non-blocking, waiting with poll(2) only when the pipe is full.
//
// Addresses: "stdio:-" (listen: serve the parent over fds 0/1, one connection) and
// "exec:<program>?arg=..." (connect: spawn a child per connection, as exec: does);
// "fifo:/dir" for both ends.
#ifndef FERRY_BENCH_RAW_PIPE_MECHANISM_H_
#define FERRY_BENCH_RAW_PIPE_MECHANISM_H_

#include <memory>

#include "bench/peer.h"
#include "bench/raw_peer.h"

namespace ferry::bench {

// Listens on "stdio:-", connects to "exec:..." addresses.
class PipeRawMechanism final : public RawMechanism {
 public:
  absl::StatusOr<std::unique_ptr<RawListener>> Listen(const Address& address) const override;
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Connect(const Address& address,
                                                       absl::Time deadline) const override;
};

class FifoRawMechanism final : public RawMechanism {
 public:
  absl::StatusOr<std::unique_ptr<RawListener>> Listen(const Address& address) const override;
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Connect(const Address& address,
                                                       absl::Time deadline) const override;
};

// Peers whose server a connection spawns (exec:) have one server process per
// connection, so "the server's CPU time" is the sum over this process's live children
// (from /proc/<pid>/stat; 10 ms resolution). Used by the peers' ServerCpu() for exec:
// addresses.
absl::StatusOr<CpuTimes> SpawnedServersCpu();

}  // namespace ferry::bench

#endif  // FERRY_BENCH_RAW_PIPE_MECHANISM_H_
