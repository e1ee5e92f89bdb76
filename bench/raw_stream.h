// Raw floors of the byte-stream mechanisms: plain Unix-domain and TCP sockets.
//
// Overview: the same sockets Ferry's "unix:" and "tcp:" transports use (clients connect
// with the transports' own ConnectUnixSocket / ConnectTcpSocket, so socket options such as
// TCP_NODELAY match; accepted TCP sockets get TCP_NODELAY too), blocking, with no framing
// beyond the raw protocol's (raw_peer.h): a 4-byte big-endian length, then the payload;
// the length 0xFFFFFFFF is a CPU-time request with no payload. A message is written with
// one sendmsg(2) (header and payload gathered) and read with as few read(2)s as the
// kernel allows: into a 64 KiB buffer first, the rest of a long payload straight into
// its destination.
//
// Addresses are Ferry's: "unix:/path" (a stale socket file left by a dead server is
// replaced; a live server's is not: ALREADY_EXISTS) and "tcp://host:port" (port 0 picks
// one; IPv6 in brackets).
#ifndef FERRY_BENCH_RAW_STREAM_H_
#define FERRY_BENCH_RAW_STREAM_H_

#include <memory>

#include "bench/raw_peer.h"

namespace ferry::bench {

// "unix:" sockets (AF_UNIX, SOCK_STREAM).
class UdsRawMechanism final : public RawMechanism {
 public:
  absl::StatusOr<std::unique_ptr<RawListener>> Listen(const Address& address) const override;
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Connect(const Address& address,
                                                       absl::Time deadline) const override;
};

// "tcp:" sockets, TCP_NODELAY on both ends.
class TcpRawMechanism final : public RawMechanism {
 public:
  absl::StatusOr<std::unique_ptr<RawListener>> Listen(const Address& address) const override;
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Connect(const Address& address,
                                                       absl::Time deadline) const override;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_RAW_STREAM_H_
