// Pieces: how Ferry frames travel through kernel message queues (POSIX mq and SysV).
//
// Overview: a queue carries messages of at most a few KiB (8 KiB by default on Linux), and
// one queue may carry the traffic of many connections. Every queue message Ferry sends is
// one *piece*: a fixed 16-byte piece header, then a body. The bodies of a connection's
// data pieces, concatenated in sequence order, are that direction's byte stream of Ferry
// frames (header + payload, runtime/frame.h), exactly as on a socket. All frames of one
// Send() are one *unit*: cut into as few pieces as the queue's message size allows (a
// small call is one piece), and the unit's last piece carries kUnitEnd. A unit always
// ends on a frame boundary.
//
//   offset size field
//   0      1    magic     0xF7
//   1      1    kind      PieceKind
//   2      1    flags     kUnitEnd (data and control pieces)
//   3      1    reserved  0
//   4      4    conn      connection id (chosen by the client, unique per server)
//   8      4    seq       data pieces: 0, 1, 2, ... per direction; others: 0
//   12     4    length    body bytes that follow (a truncated message is detected)
//
// Kinds: kData (stream bytes), kControl (one whole unit of control frames, sent with the
// queue's urgent priority so it overtakes queued data; never part of the stream), kOpen
// (client -> server: a new connection; body describes the client), kAccept (server ->
// client: Accept() took the connection), kClose (the sender closed the connection; sent
// in order after its data), kWake (a local wake-up a process posts to a queue it reads,
// never from a peer: Close() and timed waits use it).
//
// Assembler: the receiving half for one connection. It checks every piece (magic, kind,
// sequence, length, a unit ending mid-frame) and cuts the stream into frames with
// FrameHeader::Parse, so a header announcing more than max_payload is rejected before any
// byte of it is buffered. Errors: malformed, truncated, out-of-sequence pieces, garbage
// frame headers -> INVALID_ARGUMENT; a frame above the limit -> RESOURCE_EXHAUSTED; other
// wire version -> FAILED_PRECONDITION. Errors are sticky.
//
// Threading: PieceHeader is a value; Assembler is not thread-safe (one reader).
//
// Example:
//   Assembler a(/*max_payload=*/4 << 20);
//   absl::StatusOr<PieceView> p = ParsePiece(message);        // one queue message
//   if (p.ok() && p->header.kind == PieceKind::kData) status = a.Feed(*p);
//   for (;;) { Assembler::Result r = a.Next(); if (r.kind != Assembler::kFrame) break; ... }
#ifndef FERRY_TRANSPORTS_MSGQ_PIECE_H_
#define FERRY_TRANSPORTS_MSGQ_PIECE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/frame.h"

namespace ferry::msgq {

inline constexpr uint8_t kPieceMagic = 0xF7;
inline constexpr size_t kPieceHeaderSize = 16;
// The smallest queue message that can carry a piece with a useful body.
inline constexpr size_t kMinMessageSize = kPieceHeaderSize + 64;

enum class PieceKind : uint8_t {
  kData = 1,
  kControl = 2,
  kOpen = 3,
  kAccept = 4,
  kClose = 5,
  kWake = 6,
};
inline constexpr uint8_t kMaxPieceKind = 6;

inline constexpr uint8_t kUnitEnd = 0x01;

struct PieceHeader {
  PieceKind kind = PieceKind::kData;
  uint8_t flags = 0;
  uint32_t conn = 0;
  uint32_t seq = 0;
  uint32_t length = 0;

  void Serialize(char* out) const;  // exactly kPieceHeaderSize bytes
};

struct PieceView {
  PieceHeader header;
  absl::string_view body;
};

// Parses one whole queue message. INVALID_ARGUMENT for fewer than 16 bytes, a bad magic,
// kind, flags or reserved byte, or a length that disagrees with the message size.
absl::StatusOr<PieceView> ParsePiece(absl::string_view message);

// Writes header + body into `out` (which must hold kPieceHeaderSize + body.size() bytes)
// and returns the message size.
size_t BuildPiece(PieceHeader h, absl::string_view body, char* out);

// Cuts the frames of one Send() into pieces. Frames are copied straight into `scratch`
// (one piece at a time, no intermediate stream buffer). Usage:
//   Fragmenter f(frames, /*max_message=*/8192);
//   while (!f.done()) { size_t n = f.NextPiece(conn, &seq, buf); send(buf, n); }
class Fragmenter {
 public:
  Fragmenter(absl::Span<const OutFrame> frames, size_t max_message);
  bool done() const { return done_; }
  // Total stream bytes of the unit (headers + payloads).
  uint64_t unit_bytes() const { return total_; }
  // Pieces this unit needs (for tests and stats).
  uint64_t piece_count() const;
  // Writes the next data piece (with *seq, then increments it) into `out` (at least
  // max_message bytes); returns its size. The last one carries kUnitEnd.
  size_t NextPiece(uint32_t conn, uint32_t* seq, char* out);

 private:
  absl::Span<const OutFrame> frames_;
  const size_t body_max_;
  uint64_t total_ = 0;
  uint64_t emitted_ = 0;
  size_t frame_ = 0;     // current frame
  size_t offset_ = 0;    // bytes of the current frame (header + payload) already emitted
  bool done_ = false;
};

// Reassembles one direction of one connection.
class Assembler {
 public:
  enum Kind { kNeedMore, kFrame, kError };
  struct Result {
    Kind kind = kNeedMore;
    Frame frame;          // kFrame: payload points into the assembler, valid until Feed/Next
    absl::Status error;   // kError
  };

  explicit Assembler(uint32_t max_payload) : max_payload_(max_payload) {}
  Assembler(const Assembler&) = delete;
  Assembler& operator=(const Assembler&) = delete;

  // Adds a data piece (call only after Next() returned kNeedMore). Checks the sequence
  // number and that a unit does not end mid-frame (on the next Next()).
  absl::Status Feed(const PieceView& piece);
  // Drops the previously returned frame; returns the next frame, kNeedMore or the (sticky)
  // error.
  Result Next();

  // True while part of a frame is buffered or the current unit has not ended.
  bool mid_unit() const { return in_unit_ || end_ > begin_ + consumed_; }
  // Bytes buffered (for bounds and tests).
  size_t buffered() const { return end_ - begin_; }
  // Sets a sticky error (e.g. the peer closed in the middle of a frame).
  void Fail(absl::Status error) { if (error_.ok()) error_ = std::move(error); }
  const absl::Status& error() const { return error_; }

 private:
  const uint32_t max_payload_;
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t begin_ = 0, end_ = 0, consumed_ = 0;
  bool have_header_ = false;
  FrameHeader header_;
  uint32_t next_seq_ = 0;
  bool in_unit_ = false;        // a unit has started and its kUnitEnd piece not yet come
  bool unit_ended_ = false;     // the last fed piece ended its unit: must be on a boundary
  absl::Status error_;
};

// Parses the whole frames of a control piece (which must end its unit and hold only whole
// frames). Views point into `body`.
absl::StatusOr<std::vector<Frame>> ParseControlBody(absl::string_view body, uint32_t max_payload);

// True for frames that may travel as an urgent control unit: CANCEL and GOAWAY.
bool IsUrgentFrame(const OutFrame& f);

// The fuzzing entry point: treats `bytes` as a sequence of queue messages, each preceded by
// a 2-byte big-endian length, demultiplexes them by connection id into assemblers (at most
// 8 connections, 64 KiB payload limit) and drains every frame. Never crashes; returns the
// number of frames produced (errors end a connection, as in the transport).
size_t FuzzPieces(absl::string_view bytes);

}  // namespace ferry::msgq

#endif  // FERRY_TRANSPORTS_MSGQ_PIECE_H_
