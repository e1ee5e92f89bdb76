// The UDP transport's datagram header and the pure fragmenter/reassembler.
//
// Overview: every datagram the "udp:" transport sends starts with a fixed 36-byte header
// (network byte order) naming the connection (a random 64-bit id chosen by the client),
// the datagram's kind and, for DATA, which byte range of which unit it carries. A "unit"
// is the serialized frames of one Connection::Send() call; units are numbered per
// direction (seq) and delivered in order, each exactly once. docs/udp-transport.md
// describes the protocol; this header is the code that it describes.
//
//   offset size field
//   0      2    magic     0x4655 ("FU")
//   2      1    version   1
//   3      1    kind      DatagramKind
//   4      1    flags     kFlag* below
//   5      3    reserved  zero
//   8      8    conn_id   client-chosen connection id (never 0)
//   16     4    ack       all of the peer's units with seq < ack have been received
//   20     4    seq       DATA/ACK/PROBE: the unit concerned
//   24     4    call_id   DATA of a request or reply unit, PROBE: the Ferry call id
//   28     4    unit_len  DATA: total bytes of the unit
//   32     4    offset    DATA: byte offset of this fragment in the unit
//
// Reassembler is a pure class (no sockets, no clocks): it takes fragments as they come,
// in any order, duplicated or hostile, bounds its memory per peer and across peers, and
// hands out whole units in sequence order. FuzzReassembler() feeds it arbitrary bytes.
#ifndef FERRY_TRANSPORTS_UDP_UDP_WIRE_H_
#define FERRY_TRANSPORTS_UDP_UDP_WIRE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry::udp {

inline constexpr uint16_t kDatagramMagic = 0x4655;  // "FU"
inline constexpr uint8_t kDatagramVersion = 1;
inline constexpr size_t kDatagramHeaderSize = 36;
// The largest UDP payload on IPv4 (65535 - 8 - 20) less our header: an upper bound for
// fragment sizes.
inline constexpr uint32_t kMaxFragment = 65507 - kDatagramHeaderSize;
inline constexpr uint32_t kMinFragment = 256;

enum class DatagramKind : uint8_t {
  kConnect = 1,  // client -> listener: open conn_id. Payload: HandshakePayload.
  kAccept = 2,   // server -> client, from the connection's own socket. Payload: HandshakePayload.
  kData = 3,     // one fragment of a unit.
  kAck = 4,      // receiver -> sender: fragments held of unit `seq`. Payload: FragmentStatus.
  kProbe = 5,    // client -> server: "what about call `call_id` (my unit `seq`)?"
                 // Payload: empty, or a FragmentStatus of the server unit it is reassembling.
                 // server -> client, empty: a liveness poke of a silent client (ignored;
                 // a dead client's kernel answers it with ICMP port unreachable).
  kClose = 6,    // the sender closed the connection.
  kReset = 7,    // the server knows no connection conn_id (restarted, dropped it).
};
inline constexpr uint8_t kMaxDatagramKind = 7;

inline constexpr uint8_t kFlagAckNow = 0x01;   // DATA: acknowledge at once (kAck)
inline constexpr uint8_t kFlagRequest = 0x02;  // DATA: the unit starts call `call_id`
inline constexpr uint8_t kFlagReply = 0x04;    // DATA: the unit ends call `call_id`
inline constexpr uint8_t kKnownFlags = 0x07;

struct DatagramHeader {
  DatagramKind kind = DatagramKind::kData;
  uint8_t flags = 0;
  uint64_t conn_id = 0;
  uint32_t ack = 0;
  uint32_t seq = 0;
  uint32_t call_id = 0;
  uint32_t unit_len = 0;
  uint32_t offset = 0;

  // INVALID_ARGUMENT for short input, bad magic/kind/flags/reserved, conn_id 0;
  // FAILED_PRECONDITION for another version.
  static absl::StatusOr<DatagramHeader> Parse(absl::string_view bytes);
  void Serialize(char* out) const;  // exactly kDatagramHeaderSize bytes
};

// CONNECT and ACCEPT payloads: what each side will receive.
struct HandshakePayload {
  uint32_t max_unit = 0;         // largest unit the sender accepts
  uint32_t fragment = 0;         // largest fragment the sender wants to receive
  uint32_t window = 0;           // fragments the sender can buffer per unit
  uint32_t idle_timeout_ms = 0;  // server: drops a client silent for this long
  static constexpr size_t kSize = 16;
  std::string Encode() const;
  static absl::StatusOr<HandshakePayload> Decode(absl::string_view bytes);
};

// Which fragments of one unit a receiver holds: all below `have`, plus bit i of `bits`
// for fragment have + 1 + i. have == kAllFragments: the whole unit.
struct FragmentStatus {
  static constexpr uint32_t kAllFragments = 0xffffffffu;
  static constexpr uint32_t kMaxBits = 1024;
  uint32_t have = 0;
  std::vector<bool> bits;
  std::string Encode() const;
  static absl::StatusOr<FragmentStatus> Decode(absl::string_view bytes);
};

// Number of fragments of a unit of `unit_len` bytes (>= 1).
inline uint32_t FragmentCount(uint32_t unit_len, uint32_t fragment) {
  return unit_len == 0 ? 1 : (unit_len + fragment - 1) / fragment;
}

// Reassembles units from fragments and releases them in sequence order.
//
// Bounds: a unit above `max_unit` bytes, a seq more than `max_ahead` past the next one
// due, or a new unit that would take the bytes held above `max_bytes` (this peer) or the
// shared `global` budget is refused (the sender retransmits later). Memory for a unit is
// allocated once its first fragment has passed every check. Not thread-safe.
class Reassembler {
 public:
  struct Limits {
    uint32_t fragment = 1400;
    uint32_t max_unit = 4u << 20;
    size_t max_bytes = 16u << 20;
    uint32_t max_ahead = 256;
    // Optional budget shared by every Reassembler of a process (bytes in use), and its cap.
    std::atomic<int64_t>* global = nullptr;
    int64_t global_max = 0;
  };
  enum class Outcome {
    kAdded,      // new fragment stored (the unit may now be complete)
    kDuplicate,  // the unit was already complete, or this fragment was already held
    kRefused,    // malformed or over a limit: dropped
  };

  explicit Reassembler(const Limits& limits) : limits_(limits) {}
  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  Outcome Add(uint32_t seq, uint32_t unit_len, uint32_t offset, absl::string_view bytes);
  // The common case without the bookkeeping: a whole unit in one fragment, exactly the
  // next one due, nothing else pending. Copies it into *out and returns true (it counts
  // as added and popped); otherwise false and nothing changes (use Add).
  bool TakeWhole(uint32_t seq, uint32_t unit_len, uint32_t offset, absl::string_view bytes,
                 std::string* out);
  // True if unit `seq` is complete (released or waiting to be).
  bool Complete(uint32_t seq) const;
  // Moves the next unit in sequence into *out, if it is complete.
  bool PopReady(std::string* out);
  // All units with seq < next() are complete.
  uint32_t next() const { return next_; }
  FragmentStatus Status(uint32_t seq) const;
  // The lowest seq >= next() with some fragments but not all; false if none.
  bool FirstIncomplete(uint32_t* seq) const;
  size_t bytes_held() const { return bytes_; }
  const char* last_refusal() const { return last_refusal_; }

 private:
  struct Partial {
    std::string data;
    std::vector<bool> got;
    uint32_t count = 0;
    uint32_t missing = 0;
  };
  Outcome Refuse(const char* why) {
    last_refusal_ = why;
    return Outcome::kRefused;
  }
  void Release(size_t n);

  const Limits limits_;
  uint32_t next_ = 0;      // all units below are complete
  uint32_t popped_ = 0;    // units below have been handed out
  std::map<uint32_t, Partial> units_;  // seq >= popped_
  size_t bytes_ = 0;
  const char* last_refusal_ = "";
};

// Fuzz entry point: parses `data` as a sequence of datagrams and feeds every DATA
// fragment to a Reassembler with small limits, checking its invariants. Never crashes on
// any input; returns the number of units completed.
size_t FuzzReassembler(const uint8_t* data, size_t size);

}  // namespace ferry::udp

#endif  // FERRY_TRANSPORTS_UDP_UDP_WIRE_H_
