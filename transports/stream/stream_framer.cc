#include "transports/stream/stream_framer.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace ferry {
namespace {

// Below this much free space after the buffered bytes, PrepareRead() moves a small partial
// frame to the front rather than issuing a small read: moving a few bytes is cheaper than
// the extra system calls that small reads cost. Large partial frames move only when they
// would not fit otherwise.
constexpr size_t kMinReadRoom = 4096;

}  // namespace

StreamFramer::StreamFramer(uint32_t max_payload, size_t chunk)
    : max_payload_(max_payload), chunk_(std::max(chunk, kFrameHeaderSize)) {}

StreamFramer::Result StreamFramer::Next() {
  Result r;
  if (!error_.ok()) {
    r.kind = kError;
    r.error = error_;
    return r;
  }
  begin_ += consumed_;
  consumed_ = 0;
  if (begin_ == end_) begin_ = end_ = 0;  // empty: restart at the front for free
  const size_t avail = end_ - begin_;
  if (!have_header_) {
    if (avail < kFrameHeaderSize) {
      r.missing = kFrameHeaderSize - avail;
      return r;
    }
    const char* bytes = buf_.get() + begin_;
    if (!FrameHeader::ParseValid(bytes, max_payload_, &header_)) {
      error_ = FrameHeader::Parse(absl::string_view(bytes, kFrameHeaderSize), max_payload_)
                   .status();
      r.kind = kError;
      r.error = error_;
      return r;
    }
    have_header_ = true;
  }
  const size_t total = kFrameHeaderSize + header_.payload_length;
  if (avail < total) {
    r.missing = total - avail;
    return r;
  }
  r.kind = kFrame;
  r.frame.header = header_;
  r.frame.payload =
      absl::string_view(buf_.get() + begin_ + kFrameHeaderSize, header_.payload_length);
  consumed_ = total;
  have_header_ = false;
  return r;
}

absl::Span<char> StreamFramer::PrepareRead() {
  assert(consumed_ == 0 && error_.ok());
  // The whole current unit (header, or header + payload once the header is known) must fit
  // in the buffer from begin_. Its size is bounded by the limit Parse() checked.
  const size_t unit = have_header_ ? kFrameHeaderSize + header_.payload_length : kFrameHeaderSize;
  const size_t avail = end_ - begin_;
  if (capacity_ < unit || !buf_) {
    const size_t size = std::max(unit, chunk_);
    std::unique_ptr<char[]> bigger(new char[size]);  // not value-initialised: no memset
    if (avail > 0) std::memcpy(bigger.get(), buf_.get() + begin_, avail);
    buf_ = std::move(bigger);
    capacity_ = size;
    begin_ = 0;
    end_ = avail;
  } else if (begin_ > 0 && (capacity_ - begin_ < unit ||
                            (capacity_ - end_ < kMinReadRoom && avail <= kMinReadRoom))) {
    std::memmove(buf_.get(), buf_.get() + begin_, avail);
    begin_ = 0;
    end_ = avail;
  }
  return absl::Span<char>(buf_.get() + end_, capacity_ - end_);
}

void StreamFramer::CommitRead(size_t n) {
  assert(n <= capacity_ - end_);
  end_ += n;
}

void StreamFramer::Release() {
  buf_.reset();
  capacity_ = begin_ = end_ = consumed_ = 0;
  have_header_ = false;
}

}  // namespace ferry
