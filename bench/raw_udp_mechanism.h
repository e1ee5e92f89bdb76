// The raw floor for "udp": the same process layout and sockets as Ferry's udp: transport
// (a listener socket for connection requests, then one socket per client bound to the
// listener's port and connect()ed to the client, so each side reads its peer's datagrams
// directly), with no Ferry framing, reliability or runtime. A message is one datagram
// when it fits: [kind u8][total length u32 BE] then the payload; longer payloads continue
// in datagrams of at most 65000 bytes of payload, back to back, with no header (loopback
// with large socket buffers does not lose them; a lost chunk would hang the raw peer,
// which is why real use needs the transport). Addresses are Ferry's "udp://host:port".
#ifndef FERRY_BENCH_RAW_UDP_MECHANISM_H_
#define FERRY_BENCH_RAW_UDP_MECHANISM_H_

#include <memory>

#include "bench/raw_peer.h"

namespace ferry::bench {

class UdpRawMechanism final : public RawMechanism {
 public:
  absl::StatusOr<std::unique_ptr<RawListener>> Listen(const Address& address) const override;
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Connect(const Address& address,
                                                       absl::Time deadline) const override;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_RAW_UDP_MECHANISM_H_
