// The UDP transport: "udp://host:port", IPv4 and IPv6, RPC over datagrams in the
// tradition of ONC RPC. Design and measurements: docs/udp-transport.md.
//
// Overview: a Connection is a session identified by a random 64-bit connection id that
// the client picks (so a NAT rebinding or address change does not confuse it with another
// client). The frames of one Send() form a "unit", numbered per direction, split into
// fragments of at most `fragment` bytes and reassembled by the receiver, which releases
// units in order and each exactly once. Reliability is driven the ONC RPC way:
//   - the client retransmits an unanswered request (a unit with CALL_START) with
//     exponential backoff and jitter until its reply arrives or the call's deadline
//     (carried in CALL_START) passes; once the server has acknowledged it, the client
//     sends small probes instead, which also serve as its keepalive;
//   - the server keeps each reply (a unit with CALL_END) in a bounded cache keyed by
//     (connection id, call id) until the client acknowledges it, and answers a
//     retransmitted request from it, so a handler runs at most once; a retransmission of
//     a call still running is acknowledged, not dispatched again;
//   - every other unit (HELLO, PING, CANCEL, GOAWAY...) is retransmitted by its sender
//     until acknowledged; large units are flow-controlled in windows of fragments and
//     lost fragments are repaired selectively.
//
// Server side: the listener's socket only takes connection requests. Each accepted
// client gets its own socket bound to the listener's port and connect()ed to the client
// (Linux delivers a datagram to the most specific socket), so the connection's reader
// thread receives its client's datagrams directly: a 64-byte call is one datagram each
// way and no thread hand-off.
//
// Peer death: a connected UDP socket reports ECONNREFUSED (ICMP port unreachable) once
// the peer's socket is gone, which becomes UNAVAILABLE; a peer that stops answering
// probes for `peer_timeout` is UNAVAILABLE too; a server pokes a client silent for
// `max_rto` (an empty PROBE, backing off), so a dead client's ICMP port unreachable ends
// its connection, drops a client silent for `idle_timeout`, and a server that restarted
// answers an unknown connection id with RESET.
//
// Address options (all optional), e.g. "udp://127.0.0.1:0?fragment=8192&loss=0.1&seed=7":
//   fragment=N         payload bytes per datagram, 256..65471 (default: 65000 on
//                      loopback addresses, 1400 elsewhere, safe for a 1500-byte MTU)
//   rto_ms=N           first retransmission timeout (default 20)
//   max_rto_ms=N       backoff cap, also the keepalive probe interval (default 1000)
//   peer_timeout_ms=N  no answer for this long -> UNAVAILABLE (default 10000)
//   idle_timeout_ms=N  server: forget a client silent this long (default 120000)
//   loss=P dup=P reorder=P seed=N   fault injection for tests: each datagram this end
//                      sends is dropped / sent twice / held back behind the next one
//                      with probability P, from a PRNG seeded with N
// A listener's address() keeps the options, so a client given it injects the same faults.
//
// Thread-safe; a Transport object may serve any number of listeners and connections.
#ifndef FERRY_TRANSPORTS_UDP_UDP_TRANSPORT_H_
#define FERRY_TRANSPORTS_UDP_UDP_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/transport.h"

namespace ferry {

class UdpTransport final : public Transport {
 public:
  struct Options {
    uint32_t fragment_loopback = 65000;
    uint32_t fragment_remote = 1400;
    absl::Duration rto = absl::Milliseconds(20);
    absl::Duration max_rto = absl::Seconds(1);
    absl::Duration peer_timeout = absl::Seconds(10);
    absl::Duration idle_timeout = absl::Seconds(120);
    // A client whose peer has been silent this long confirms its next request (asks for
    // an immediate acknowledgement and waits for it in Send), so a server that
    // restarted or forgot it shows as UNAVAILABLE before the call is committed.
    absl::Duration confirm_after_silence = absl::Milliseconds(1);
    // Per-connection reply cache bounds (server).
    size_t reply_cache_entries = 1024;
    size_t reply_cache_bytes = 32u << 20;
    // Reassembly memory: per connection, and across every connection of this transport.
    size_t reassembly_bytes_per_peer = 16u << 20;
    int64_t reassembly_bytes_total = 256 << 20;
    // Requested socket buffer sizes (capped by net.core.rmem_max / wmem_max).
    int socket_buffer = 4 << 20;
    // Connections a listener holds for Accept().
    size_t backlog = 128;
  };

  UdpTransport() : UdpTransport(Options{}) {}
  explicit UdpTransport(const Options& options);
  ~UdpTransport() override;

  absl::string_view scheme() const override { return "udp"; }
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                   const ConnectionLimits& limits) override;
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                      const ConnectionLimits& limits,
                                                      absl::Time deadline) override;

 private:
  const Options options_;
  std::shared_ptr<std::atomic<int64_t>> reassembly_in_use_;
};

// Counters, for tests and diagnostics (UdpConnectionStats(conn), UdpListenerStats(l)).
struct UdpStats {
  uint64_t garbage = 0;          // datagrams dropped as malformed or for another connection
  uint64_t duplicates = 0;       // fragments or units received twice
  uint64_t retransmits = 0;      // fragments sent again, probes included
  uint64_t refused = 0;          // fragments refused by the reassembler (limits)
  uint64_t replies_from_cache = 0;
  uint64_t resets = 0;           // listener: RESETs sent for unknown connection ids
  uint64_t accepted = 0;         // listener: connections accepted
};
// Zeros for objects that are not UDP connections / listeners.
UdpStats UdpConnectionStats(const Connection& conn);
UdpStats UdpListenerStats(const Listener& listener);

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_UDP_UDP_TRANSPORT_H_
