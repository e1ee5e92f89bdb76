// One end of a "udp:" connection: the reliability layer (units, fragments, windows,
// retransmission, reply cache) over one connected UDP socket. Internal to
// transports/udp; see udp_transport.h for the behaviour and docs/udp-transport.md for
// the protocol.
//
// Threading: the Connection contract (Send from any thread, one Receive at a time,
// Close from anywhere). All state is under mu_; no lock is held across a blocking system
// call. Whoever needs datagrams (a Receive, or a Send waiting for acknowledgements)
// reads the socket itself if nobody else is reading ("reader role"), otherwise waits on
// cv_ for the reader to hand it what it needs. Timers (retransmissions, probes, peer and
// idle timeouts) run on whichever thread is pumping; a server connection always has its
// reader thread in Receive, a client one whenever a call waits for its reply.
#ifndef FERRY_TRANSPORTS_UDP_UDP_CONNECTION_H_
#define FERRY_TRANSPORTS_UDP_UDP_CONNECTION_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "transports/stream/fd.h"
#include "transports/transport.h"
#include "transports/udp/udp_transport.h"
#include "transports/udp/udp_wire.h"

namespace ferry::udp {

// Seeded datagram faults (tests): drop, duplicate, hold back behind the next datagram.
struct FaultOptions {
  double loss = 0, dup = 0, reorder = 0;
  uint64_t seed = 0;
  bool any() const { return loss > 0 || dup > 0 || reorder > 0; }
};

struct ConnectionConfig {
  uint32_t fragment = 1400;   // bytes per DATA datagram, both ways (agreed)
  uint32_t window = 32;       // fragments sent before waiting for an acknowledgement
  uint32_t peer_max_unit = 0; // largest unit the peer accepts
  uint32_t max_unit = 0;      // largest unit we accept
  absl::Duration rto, max_rto, peer_timeout, idle_timeout, confirm_after_silence;
  size_t reply_cache_entries = 1024, reply_cache_bytes = 32u << 20;
  size_t reassembly_bytes = 16u << 20;
  std::shared_ptr<std::atomic<int64_t>> reassembly_total;
  int64_t reassembly_total_max = 0;
  FaultOptions faults;
};

class UdpConnection final : public Connection {
 public:
  enum class Role { kClient, kServer };
  struct Params {
    Role role = Role::kClient;
    UniqueFd fd;  // connected to the peer
    uint64_t conn_id = 0;
    std::string peer_description;
    ConnectionConfig config;
    ConnectionLimits limits;
    std::string accept_payload;      // server: re-sent when CONNECT is repeated
    std::function<void()> on_close;  // server: the listener forgets conn_id
  };
  explicit UdpConnection(Params params);
  ~UdpConnection() override;

  absl::Status Send(absl::Span<const OutFrame> frames, absl::Time deadline) override;
  absl::StatusOr<Frame> Receive(absl::Time deadline) override;
  void Close() override;
  std::string PeerDescription() const override { return peer_; }
  UdpStats stats() const;

 private:
  struct OutUnit {
    uint32_t seq = 0;
    uint32_t call_id = 0;
    uint8_t kind = 0;  // kFlagRequest, kFlagReply or 0
    std::string bytes;
    uint32_t nfrags = 1;
    std::vector<bool> acked;
    uint32_t have = 0;       // fragments [0, have) acknowledged
    uint32_t sent_upto = 0;  // fragments [0, sent_upto) sent at least once
    bool delivered = false;  // the peer holds the whole unit
    bool want_ack = false;   // ask for acknowledgements (ACK_NOW on burst ends)
    absl::Time next_at = absl::InfiniteFuture();
    absl::Duration backoff;
    absl::Time give_up = absl::InfiniteFuture();
  };
  using Lock = std::unique_lock<std::mutex>;

  // Sends fragments of `u` allowed by the window: new ones, and (if `repair`) ones sent
  // before and not acknowledged (below `repair_below`). ACK_NOW on the last one sent if u.want_ack or more remain.
  void SendFragmentsLocked(OutUnit& u, bool repair, uint32_t repair_below = UINT32_MAX);
  void SendDatagramLocked(const DatagramHeader& h, absl::string_view a, absl::string_view b = {});
  void RawSend(const char* header, absl::string_view a, absl::string_view b);
  void SendAckLocked(uint32_t seq);
  void SendProbeLocked(const OutUnit& u);
  DatagramHeader HeaderLocked(DatagramKind kind) const;
  // One step of waiting for something: runs due timers, then reads one datagram (or waits
  // for the reader) until `until` at the latest.
  void PumpLocked(Lock& lock, absl::Time until);
  // Server, from Close(): resends the cached replies asking for an acknowledgement and
  // pumps until the client has acknowledged them all, is gone, or kCloseLinger passed.
  void LingerForReplies();
  // Reads one datagram into rx_ without mu_. >0 bytes, 0 nothing (timeout), <0 -errno.
  ssize_t ReadDatagram(absl::Time until);
  void HandleDatagramLocked(absl::string_view dgram);
  void HandleDataLocked(const DatagramHeader& h, absl::string_view payload);
  void HandleStatusLocked(uint32_t seq, const FragmentStatus& st);
  void HandleCumAckLocked(uint32_t ack);
  void MarkDeliveredLocked(std::map<uint32_t, OutUnit>::iterator it);
  void ResendReplyLocked(OutUnit& u);
  void SettleRequestLocked(uint32_t call_id);
  void RunTimersLocked(absl::Time now);
  absl::Time NextTimerLocked() const;
  void ArmLocked(OutUnit& u, absl::Time now);
  void PeerGoneLocked(absl::Status why);
  bool NextFrameLocked(Frame* frame);
  bool UsableLocked(absl::Status* why) const;
  void DrainLocked(Lock& lock);
  OutUnit* FindUnitLocked(uint32_t seq);
  size_t UnackedLocked() const;

  const Role role_;
  UniqueFd fd_;
  const uint64_t conn_id_;
  const std::string peer_;
  const ConnectionConfig cfg_;
  const ConnectionLimits limits_;
  const std::string accept_payload_;
  std::function<void()> on_close_;
  CloseGate gate_;
  std::atomic<bool> closing_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int waiters_ = 0;
  bool reading_ = false;
  bool closed_ = false;
  absl::Status peer_gone_;  // non-OK once the peer is known gone
  absl::Status broken_;     // a malformed frame: sticky
  absl::Time last_heard_;
  absl::Time last_pump_ = absl::InfinitePast();
  absl::Time listening_since_ = absl::InfinitePast();
  // Server: liveness pokes of a silent client (RunTimersLocked): the last one sent, and
  // the silence before the next (max_rto, doubling up to idle_timeout; reset by any
  // datagram from the client).
  absl::Time poked_at_ = absl::InfinitePast();
  // Server: when a reply was last sent or resent from the cache (LingerForReplies).
  absl::Time last_reply_at_ = absl::InfinitePast();
  absl::Duration poke_after_;

  // Sending.
  uint32_t next_seq_ = 0;
  uint32_t peer_next_ = 0;               // the peer holds all our units below this
  std::map<uint32_t, OutUnit> out_;      // timer-driven: requests, other units
  std::map<uint32_t, OutUnit> replies_;  // server reply cache (client-driven)
  absl::flat_hash_map<uint32_t, uint32_t> reply_by_call_;
  size_t reply_bytes_ = 0;
  std::mt19937_64 rng_;
  // Fault injection.
  std::string held_;  // a datagram held back (reorder)
  absl::Time held_until_ = absl::InfiniteFuture();

  // Receiving.
  Reassembler reasm_;
  std::deque<std::string> ready_;
  std::string cur_;  // the unit frames are being returned from
  size_t cur_pos_ = 0;
  std::vector<std::string> spare_;
  std::string rx_;  // datagram buffer, used by the reader only
  absl::Duration rcvtimeo_ = absl::ZeroDuration();  // SO_RCVTIMEO in force (0 = none)

  UdpStats stats_;
};

// Ferry call helpers used by the connection (exposed for tests).
// The deadline budget in a CALL_START payload, or kNoDeadline if absent or malformed.
int64_t CallStartBudgetMicros(absl::string_view payload);

}  // namespace ferry::udp

#endif  // FERRY_TRANSPORTS_UDP_UDP_CONNECTION_H_
