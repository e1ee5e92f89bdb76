// A single-producer/single-consumer byte ring in shared memory.
//
// Overview: the ring carries a byte stream, so frames of any length (including frames
// larger than the ring, streamed through it in pieces) wrap around its end freely. Its
// shared state is a RingControl (four cache lines: tail, head, and the two wait channels)
// plus `capacity` data bytes; both live in a segment mapped by two processes at different
// addresses, so the ring stores indices, never pointers.
//
//   tail  monotonically increasing count of bytes ever published; written only by the
//         producer (release store), read by the consumer (acquire load)
//   head  count of bytes ever consumed and released; written only by the consumer
//         (release), read by the producer (acquire)
//   data  byte i of the stream lives at data[i % capacity]
//
// 64-bit counts never wrap in practice (2^64 bytes), so "full" (tail - head == capacity)
// and "empty" (tail == head) need no extra bit, and any capacity works (odd ones too).
// tail and head sit on separate cache lines: the producer's stores never invalidate the
// line the consumer writes, and vice versa. Each side keeps the other's index cached and
// reloads it only when the cached value says "no room" / "no data", so a steady stream
// costs one cache-line transfer per publish, not one per byte count check.
//
// Trust: a peer can write anything into the segment. Each side treats its own index as
// authoritative (it keeps it locally and only ever stores it) and validates every value of
// the peer's index it loads: it must not move backwards and must stay within `capacity`
// of its own. A violation sets a sticky corrupt() flag and the ring reports no room / no
// data from then on; the caller breaks the connection. Payload bytes are not validated
// here: the framing layer above parses them with length checks.
//
// Threading: one producer thread and one consumer thread at a time (callers serialise).
// No locks, no system calls; waiting is shm_wait.h's job. Free of absl so it can be built
// alone with ThreadSanitizer.
//
// Example (one process, for illustration):
//   RingControl control;
//   std::vector<char> bytes(1000);
//   RingWriter w(&control, bytes.data(), bytes.size());
//   RingReader r(&control, bytes.data(), bytes.size());
//   if (w.Free(5) >= 5) { w.Write("hello", 5); w.Publish(); }
//   char out[5];
//   if (r.Available(5) >= 5) { r.Read(out, 5); r.Release(); }
#ifndef FERRY_TRANSPORTS_SHM_SHM_RING_H_
#define FERRY_TRANSPORTS_SHM_SHM_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "transports/shm/shm_wait.h"

namespace ferry::shm {

struct alignas(kCacheLine) RingIndex {
  std::atomic<uint64_t> value{0};
};

// The shared part of one ring. Zero-initialised memory is a valid empty ring.
struct RingControl {
  RingIndex tail;  // producer's line
  RingIndex head;  // consumer's line
  WaitWord data;   // the consumer waits here for bytes; the producer notifies
  WaitWord space;  // the producer waits here for room; the consumer notifies
};
static_assert(sizeof(RingControl) == 4 * kCacheLine, "RingControl is four cache lines");
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared atomics must be lock-free");

// The producer's end. Not thread-safe: one producer thread at a time.
class RingWriter {
 public:
  RingWriter() = default;
  // `control` and `data` (capacity bytes) must outlive the writer. Starts at the ring's
  // current tail, which must be the last value this side published (0 for a new ring).
  RingWriter(RingControl* control, char* data, uint64_t capacity);

  uint64_t capacity() const { return capacity_; }

  // Bytes that can be written without overwriting unconsumed data. Loads the consumer's
  // head only when the cached value shows fewer than `want` free bytes. 0 once corrupt.
  uint64_t Free(uint64_t want);

  // Copies `n` bytes (n <= Free()) to the write position, wrapping around the end. The
  // consumer sees them only after Publish(). Inline for the common case (no wrap), so a
  // frame header's fixed 16 bytes compile to two moves, not a call to memcpy.
  void Write(const void* src, uint64_t n) {
    const uint64_t offset = tail_ % capacity_;
    if (n <= capacity_ - offset) {
      if (n != 0) std::memcpy(data_ + offset, src, n);  // src may be null when n is 0
      tail_ += n;
    } else {
      WriteWrapped(src, n, offset);
    }
  }

  // Hands out the longest run of free bytes at the write position that does not wrap
  // around the ring's end, at most `free` (a value Free() just returned), for the caller
  // to fill in place: *n is set to its length and the write position moves past it, as
  // if Write() had copied *n bytes there. Unreserve() gives back what was not filled.
  char* Reserve(uint64_t free, uint64_t* n) {
    const uint64_t offset = tail_ % capacity_;
    *n = free < capacity_ - offset ? free : capacity_ - offset;
    tail_ += *n;
    return data_ + offset;
  }
  // Moves the write position back by `n` bytes (at most what the last Reserve() gave).
  void Unreserve(uint64_t n) { tail_ -= n; }

  // Makes everything written so far visible to the consumer (one release store). Returns
  // false if there was nothing new. The caller then Notify()s the data channel.
  bool Publish();

  // Forgets everything written since the last Publish(): the consumer never saw it.
  void Discard() { tail_ = published_; }

  // Bytes written but not yet published.
  uint64_t unpublished() const { return tail_ - published_; }
  // Total bytes ever published.
  uint64_t published() const { return published_; }
  // The consumer's head went backwards or beyond what was published: sticky.
  bool corrupt() const { return corrupt_; }

  RingControl* control() const { return control_; }

 private:
  void WriteWrapped(const void* src, uint64_t n, uint64_t offset);

  RingControl* control_ = nullptr;
  char* data_ = nullptr;
  uint64_t capacity_ = 0;
  uint64_t tail_ = 0;        // local write position (>= published_)
  uint64_t published_ = 0;   // last value stored to control_->tail
  uint64_t head_cache_ = 0;  // last validated value of control_->head
  bool corrupt_ = false;
};

// The consumer's end. Not thread-safe: one consumer thread at a time.
class RingReader {
 public:
  RingReader() = default;
  // `control` and `data` must outlive the reader. Starts at the ring's current head.
  RingReader(RingControl* control, char* data, uint64_t capacity);

  uint64_t capacity() const { return capacity_; }

  // Bytes published and not yet read. Loads the producer's tail (acquire) only when the
  // cached value shows fewer than `want`. 0 once corrupt.
  uint64_t Available(uint64_t want);

  // A pointer to the next `n` bytes (n <= Available()) if they are contiguous in the
  // ring, else nullptr. Valid until those bytes are Released (the producer may then reuse
  // them). Does not advance.
  const char* Contiguous(uint64_t n) const;

  // Copies the next `n` bytes (n <= Available()) out, wrapping around the end, and
  // advances past them. The producer cannot reuse them until Release(). Inline for the
  // common case, as Write().
  void Read(void* dst, uint64_t n) {
    const uint64_t offset = head_ % capacity_;
    if (n <= capacity_ - offset) {
      if (n != 0) std::memcpy(dst, data_ + offset, n);
      head_ += n;
    } else {
      ReadWrapped(dst, n, offset);
    }
  }
  // Advances past `n` bytes (n <= Available()) without copying.
  void Skip(uint64_t n);

  // Hands out the longest run of the next `avail` bytes (a value Available() just
  // returned) that does not wrap around the ring's end, to be read in place: *n is set to
  // its length and the read position moves past it, as if Read() had copied it. The
  // bytes stay valid until they are Released; Untake() gives back what was not used.
  const char* Take(uint64_t avail, uint64_t* n) {
    const uint64_t offset = head_ % capacity_;
    *n = avail < capacity_ - offset ? avail : capacity_ - offset;
    head_ += *n;
    return data_ + offset;
  }
  // Moves the read position back by `n` unreleased bytes (at most what Take() gave).
  void Untake(uint64_t n) { head_ -= n; }

  // Hands every byte read or skipped so far back to the producer (one release store).
  // Returns false if there was nothing new. The caller then Notify()s the space channel.
  bool Release();

  // Bytes read or skipped but not yet released.
  uint64_t unreleased() const { return head_ - released_; }
  // The producer's tail went backwards or beyond capacity: sticky.
  bool corrupt() const { return corrupt_; }

  RingControl* control() const { return control_; }

 private:
  void ReadWrapped(void* dst, uint64_t n, uint64_t offset);

  RingControl* control_ = nullptr;
  const char* data_ = nullptr;
  uint64_t capacity_ = 0;
  uint64_t head_ = 0;        // local read position (>= released_)
  uint64_t released_ = 0;    // last value stored to control_->head
  uint64_t tail_cache_ = 0;  // last validated value of control_->tail
  bool corrupt_ = false;
};

}  // namespace ferry::shm

#endif  // FERRY_TRANSPORTS_SHM_SHM_RING_H_
