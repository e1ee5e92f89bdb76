// The stream framer: cuts a byte stream into Ferry frames (runtime/frame.h).
//
// Overview: StreamFramer owns one receive buffer per connection. The connection asks
// Next() for a frame; the answer is one of three (brpc's parse result): a frame, "need
// more bytes", or an error. On "need more" the connection reads into PrepareRead()'s span
// and reports the count with CommitRead(). Reads are large (a chunk at a time) so several
// small frames come from one read; a frame larger than the chunk grows the buffer to
// exactly that frame, after FrameHeader::Parse has checked its length against the limit,
// so a hostile header can never make it allocate more than the limit.
//
// Threading: not thread-safe; one reader at a time.
//
// Example:
//   StreamFramer framer(limits.max_frame_payload);
//   for (;;) {
//     StreamFramer::Result r = framer.Next();
//     if (r.kind == StreamFramer::kFrame) return r.frame;
//     if (r.kind == StreamFramer::kError) return r.error;
//     absl::Span<char> room = framer.PrepareRead();
//     size_t n = read(fd, room.data(), room.size());   // n > 0
//     framer.CommitRead(n);
//   }
#ifndef FERRY_TRANSPORTS_STREAM_STREAM_FRAMER_H_
#define FERRY_TRANSPORTS_STREAM_STREAM_FRAMER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "runtime/frame.h"

namespace ferry {

class StreamFramer {
 public:
  // Bytes the buffer holds at least once the first read happens; also the read size for
  // small frames.
  static constexpr size_t kDefaultChunk = 64 << 10;

  enum Kind { kNeedMore, kFrame, kError };
  struct Result {
    Kind kind = kNeedMore;
    Frame frame;                         // kFrame: payload points into the buffer
    size_t missing = 0;                  // kNeedMore: bytes still missing for the current unit
    absl::Status error;                  // kError: the FrameHeader::Parse error
  };

  explicit StreamFramer(uint32_t max_payload, size_t chunk = kDefaultChunk);
  StreamFramer(const StreamFramer&) = delete;
  StreamFramer& operator=(const StreamFramer&) = delete;

  // Drops the frame returned by the previous Next() (its payload view dies here) and
  // returns the next complete frame from the buffered bytes, kNeedMore, or kError. An error
  // is sticky: every later call returns it again (the stream has lost frame sync).
  Result Next();

  // Only after Next() returned kNeedMore: returns writable space after the buffered bytes,
  // large enough for at least `missing` bytes, compacting or growing the buffer as needed.
  // The buffer never grows beyond max(chunk, kFrameHeaderSize + max_payload); once grown
  // it is kept, so a connection that carries large messages reallocates only once.
  absl::Span<char> PrepareRead();
  // Records that `n` bytes (<= the span's size) were written at the start of the span.
  void CommitRead(size_t n);

  // True if part of a frame is buffered (end of stream now would cut a frame).
  bool mid_frame() const { return end_ > begin_ + consumed_; }
  // Current buffer size in bytes (for tests and metrics).
  size_t capacity() const { return capacity_; }
  // Frees the buffer. Only Next() may follow (returning kNeedMore or the sticky error).
  void Release();

 private:
  // Bytes [begin_, end_) of buf_ are buffered; the first consumed_ of them belong to the
  // frame last returned by Next().
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t consumed_ = 0;
  bool have_header_ = false;  // header_ describes the frame at begin_
  FrameHeader header_;
  absl::Status error_;
  const uint32_t max_payload_;
  const size_t chunk_;
};

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_STREAM_STREAM_FRAMER_H_
