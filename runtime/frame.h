// Ferry wire format v1: the frame header and the payloads of control frames.
//
// Overview: every byte Ferry puts on a transport is a frame: a fixed 16-byte header in
// network byte order followed by `payload_length` bytes of payload. docs/wire-format.md
// describes every field and gives the grammar; this header is the code that it describes.
//
//   offset size field
//   0      2    magic            0x4652 ("FR")
//   2      1    version          1
//   3      1    type             FrameType
//   4      1    flags            per type, see below
//   5      3    reserved         must be zero
//   8      4    call_id          0 for connection frames, non-zero for call frames
//   12     4    payload_length   bytes that follow the header
//
// Example:
//   ferry::FrameHeader h{ferry::FrameType::kMessage, ferry::kFlagEndOfStream, 7, 64};
//   char bytes[ferry::kFrameHeaderSize];
//   h.Serialize(bytes);
//   absl::StatusOr<ferry::FrameHeader> back = ferry::FrameHeader::Parse(
//       absl::string_view(bytes, sizeof(bytes)), /*max_payload=*/4 << 20);
#ifndef FERRY_RUNTIME_FRAME_H_
#define FERRY_RUNTIME_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ferry {

inline constexpr uint16_t kFrameMagic = 0x4652;  // "FR"
inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kFrameHeaderSize = 16;

// The default largest message, each way (gRPC's default).
inline constexpr uint32_t kDefaultMaxMessageSize = 4u << 20;
// The largest call-start or call-end payload (path + metadata, or status + trailers).
inline constexpr uint32_t kMaxControlPayload = 64u << 10;

enum class FrameType : uint8_t {
  // Connection frames (call_id == 0).
  kHello = 1,   // version and limits; each side sends one first. Payload: HelloPayload.
  kPing = 2,    // 8 opaque bytes, echoed back with kFlagAck.
  kGoAway = 3,  // sender accepts no calls above last_call_id. Payload: GoAwayPayload.
  // Call frames (call_id != 0).
  kCallStart = 4,  // client opens a call. Payload: CallStartPayload (kFlagWithMessage: and
                   // the call's only request message after it).
  kMessage = 5,    // one serialized message. kFlagEndOfStream: sender half-closes after it.
                   // kFlagEndOfCall (server only): the call ends OK after it.
  kHalfClose = 6,  // sender will send no more messages on this call. Empty payload.
  kCallEnd = 7,    // server ends the call. Payload: CallEndPayload.
  kCancel = 8,     // client abandons the call. Empty payload.
};
inline constexpr uint8_t kMaxFrameType = 8;

// Flags. Unknown flag bits are rejected, so later versions can give them meaning.
inline constexpr uint8_t kFlagEndOfStream = 0x01;  // kMessage
inline constexpr uint8_t kFlagAck = 0x01;          // kHello (reply), kPing (reply)
// Unary calls in one frame each way (only to a peer whose HELLO offered
// kFeatureUnaryFrames; docs/wire-format.md):
//   CALL_START + kFlagWithMessage: the payload is a call-start payload followed by the
//     call's only request message; the client half-closes after it (= CALL_START,
//     MESSAGE + kFlagEndOfStream).
//   MESSAGE + kFlagEndOfCall, server to client: the call's reply, after which the call
//     ends OK with no trailing metadata (= MESSAGE, CALL_END OK).
inline constexpr uint8_t kFlagWithMessage = 0x01;  // kCallStart
inline constexpr uint8_t kFlagEndOfCall = 0x02;    // kMessage

// True for frame types whose call_id must be zero.
constexpr bool IsConnectionFrame(FrameType t) {
  return t == FrameType::kHello || t == FrameType::kPing || t == FrameType::kGoAway;
}

// The flag bits a frame of type `t` may carry.
constexpr uint8_t AllowedFrameFlags(FrameType t) {
  switch (t) {
    case FrameType::kMessage:
      return kFlagEndOfStream | kFlagEndOfCall;
    case FrameType::kCallStart:
      return kFlagWithMessage;
    case FrameType::kHello:
    case FrameType::kPing:
      return kFlagAck;
    default:
      return 0;
  }
}

absl::string_view FrameTypeName(FrameType t);

// A frame header as a value. Parse validates everything a header alone can tell.
struct FrameHeader {
  FrameType type = FrameType::kMessage;
  uint8_t flags = 0;
  uint32_t call_id = 0;
  uint32_t payload_length = 0;

  // Parses the first kFrameHeaderSize bytes of `bytes`. Checks magic, version, type,
  // flags, reserved bytes and call id before the length, and the length against
  // `max_payload` before the caller allocates anything. Errors:
  //   fewer than 16 bytes                 -> INVALID_ARGUMENT ("truncated")
  //   bad magic / type / flags / reserved / call id for the type -> INVALID_ARGUMENT
  //   other version                       -> FAILED_PRECONDITION
  //   payload_length > max_payload        -> RESOURCE_EXHAUSTED
  static absl::StatusOr<FrameHeader> Parse(absl::string_view bytes, uint32_t max_payload);
  // Parse's verdict without building a status, for receive paths (once per frame): true,
  // with *out set, if the kFrameHeaderSize bytes at `p` are a header Parse accepts; false
  // if they are not, and Parse says why.
  static bool ParseValid(const char* p, uint32_t max_payload, FrameHeader* out);

  // Writes exactly kFrameHeaderSize bytes to `out`.
  void Serialize(char* out) const;
  std::string Serialize() const;

  friend bool operator==(const FrameHeader& a, const FrameHeader& b) {
    return a.type == b.type && a.flags == b.flags && a.call_id == b.call_id &&
           a.payload_length == b.payload_length;
  }
};

inline bool FrameHeader::ParseValid(const char* p, uint32_t max_payload, FrameHeader* out) {
  // Big-endian fields: magic (2), version, type, flags, three zero bytes, call id (4),
  // payload length (4).
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  const uint8_t type = b[3];
  const uint8_t flags = b[4];
  auto load32 = [b](int at) {
    return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 |
           b[at + 3];
  };
  const uint32_t call_id = load32(8);
  const uint32_t length = load32(12);
  if ((uint16_t{b[0]} << 8 | b[1]) != kFrameMagic || b[2] != kWireVersion || type == 0 ||
      type > kMaxFrameType || (b[5] | b[6] | b[7]) != 0 || length > max_payload) {
    return false;
  }
  const auto t = static_cast<FrameType>(type);
  if ((flags & ~AllowedFrameFlags(t)) != 0 || IsConnectionFrame(t) != (call_id == 0)) {
    return false;
  }
  *out = FrameHeader{t, flags, call_id, length};
  return true;
}

// A received frame. `payload` points into the connection's buffer and stays valid until
// the next Receive() or Close() on that connection.
struct Frame {
  FrameHeader header;
  absl::string_view payload;
  // Set only by Connection::ReceiveStreaming(): the payload (header.payload_length bytes)
  // is still arriving and `payload` is empty; read it with
  // Connection::ParseStreamedPayload() before the next Receive (which otherwise skips it).
  bool streamed = false;
};

// A frame to send: the header's payload_length must equal payload.size(). `payload` is
// borrowed for the duration of the Send() call only.
struct OutFrame {
  FrameHeader header;
  absl::string_view payload;
};

inline OutFrame MakeFrame(FrameType type, uint8_t flags, uint32_t call_id,
                          absl::string_view payload) {
  return OutFrame{FrameHeader{type, flags, call_id, static_cast<uint32_t>(payload.size())},
                  payload};
}

// Metadata: ordered key/value pairs; a key may repeat. Keys follow gRPC's rules
// (lowercase letters, digits, '-', '_', '.'; keys ending in "-bin" carry binary values).
using Metadata = std::vector<std::pair<std::string, std::string>>;

// Returns INVALID_ARGUMENT if a key breaks gRPC's metadata key rules.
absl::Status ValidateMetadata(const Metadata& md);

// ---- Control payloads -----------------------------------------------------------------
// Each Encode appends to `out` (so a caller can reuse one buffer); each Decode rejects
// truncated input, trailing bytes and oversized lengths with INVALID_ARGUMENT.

// HELLO feature bits: what the sender accepts beyond the base protocol. Unknown bits are
// ignored, and a HELLO without the field (4 bytes) offers none.
inline constexpr uint32_t kFeatureUnaryFrames = 0x1;  // kFlagWithMessage, kFlagEndOfCall
inline constexpr uint32_t kOwnFeatures = kFeatureUnaryFrames;

struct HelloPayload {
  uint32_t max_message_size = kDefaultMaxMessageSize;  // largest message the sender accepts
  uint32_t features = 0;                               // kFeature* bits
};
void EncodeHello(const HelloPayload& p, std::string* out);
absl::StatusOr<HelloPayload> DecodeHello(absl::string_view payload);

// The remaining deadline budget travels as microseconds; kNoDeadline means none. A budget
// is converted to an absolute absl::Time once, on receipt.
inline constexpr int64_t kNoDeadline = -1;
int64_t DeadlineToBudgetMicros(absl::Time deadline, absl::Time now);
absl::Time BudgetMicrosToDeadline(int64_t budget_us, absl::Time now);

struct CallStartView {
  absl::string_view method;  // "/package.Service/Method"
  int64_t budget_us = kNoDeadline;
  // Metadata pairs as views into the payload.
  std::vector<std::pair<absl::string_view, absl::string_view>> metadata;
};
void EncodeCallStart(absl::string_view method, int64_t budget_us, const Metadata& md,
                     std::string* out);
// Decodes into `view` (reusing its vector's capacity). Views point into `payload`.
absl::Status DecodeCallStart(absl::string_view payload, CallStartView* view);
// The same for a CALL_START + kFlagWithMessage payload: decodes the call-start part and
// sets `message` to the bytes after it.
absl::Status DecodeCallStartWithMessage(absl::string_view payload, CallStartView* view,
                                        absl::string_view* message);
// The same for the first bytes of such a payload (one read in pieces): *need_more is set
// when they end inside the call-start part, which more bytes may complete; any other
// error is final.
absl::Status DecodeCallStartPrefix(absl::string_view bytes, CallStartView* view,
                                   absl::string_view* message, bool* need_more);

// Encodes CALL_START payloads for one thread, keeping the previous call's method bytes:
// a caller that repeats a method (the usual case) only rewrites the deadline budget and
// the metadata. The returned view is valid until the next Encode().
class CallStartEncoder {
 public:
  absl::string_view Encode(absl::string_view method, int64_t budget_us, const Metadata& md);

 private:
  std::string buf_;
  size_t method_end_ = 0;  // bytes of buf_ holding the u16 length and the method
};

struct CallEndView {
  absl::StatusCode code = absl::StatusCode::kOk;
  absl::string_view message;
  std::vector<std::pair<absl::string_view, absl::string_view>> trailers;
};
void EncodeCallEnd(const absl::Status& status, const Metadata& trailers, std::string* out);
// The CALL_END payload of an OK status without trailers (what almost every call ends
// with), encoded once. DecodeCallEnd recognises it without parsing.
absl::string_view OkCallEndPayload();
absl::Status DecodeCallEnd(absl::string_view payload, CallEndView* view);

struct GoAwayPayload {
  uint32_t last_call_id = 0;
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  std::string message;
};
void EncodeGoAway(const GoAwayPayload& p, std::string* out);
absl::StatusOr<GoAwayPayload> DecodeGoAway(absl::string_view payload);

}  // namespace ferry

#endif  // FERRY_RUNTIME_FRAME_H_
