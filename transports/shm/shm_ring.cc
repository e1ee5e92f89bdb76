#include "transports/shm/shm_ring.h"

#include <cstring>

namespace ferry::shm {
namespace {

// How far ahead the reader and writer prefetch: a small message's worth of lines.
constexpr uint64_t kPrefetchBytes = 4 * kCacheLine;

}  // namespace

RingWriter::RingWriter(RingControl* control, char* data, uint64_t capacity)
    : control_(control), data_(data), capacity_(capacity) {
  tail_ = published_ = control_->tail.value.load(std::memory_order_relaxed);
  head_cache_ = control_->head.value.load(std::memory_order_acquire);
  corrupt_ = head_cache_ > published_ || published_ - head_cache_ > capacity_;
}

uint64_t RingWriter::Free(uint64_t want) {
  if (corrupt_) return 0;
  uint64_t free = capacity_ - (tail_ - head_cache_);
  if (free >= want) return free;
  const uint64_t head = control_->head.value.load(std::memory_order_acquire);
  // The consumer can only release what we published, and never takes bytes back.
  if (head < head_cache_ || head > published_) {
    corrupt_ = true;
    return 0;
  }
  head_cache_ = head;
  return capacity_ - (tail_ - head_cache_);
}

void RingWriter::WriteWrapped(const void* src, uint64_t n, uint64_t offset) {
  const uint64_t first = capacity_ - offset;
  std::memcpy(data_ + offset, src, first);
  std::memcpy(data_, static_cast<const char*>(src) + first, n - first);
  tail_ += n;
}

bool RingWriter::Publish() {
  if (tail_ == published_) return false;
  published_ = tail_;
  control_->tail.value.store(published_, std::memory_order_release);
  // The next message goes to lines last touched a whole ring ago (long evicted): ask for
  // ownership of them now, while we wait for the peer, not on the next Send. Only lines in
  // free space, so this never steals a line the consumer is still reading.
  const uint64_t free = capacity_ - (tail_ - head_cache_);
  for (uint64_t ahead = 0; ahead < kPrefetchBytes && ahead + kCacheLine <= free;
       ahead += kCacheLine) {
    __builtin_prefetch(data_ + (tail_ + ahead) % capacity_, /*rw=*/1);
  }
  return true;
}

RingReader::RingReader(RingControl* control, char* data, uint64_t capacity)
    : control_(control), data_(data), capacity_(capacity) {
  head_ = released_ = control_->head.value.load(std::memory_order_relaxed);
  tail_cache_ = control_->tail.value.load(std::memory_order_acquire);
  corrupt_ = tail_cache_ < head_ || tail_cache_ - head_ > capacity_;
  if (corrupt_) tail_cache_ = head_;
}

uint64_t RingReader::Available(uint64_t want) {
  if (corrupt_) return 0;
  const uint64_t cached = tail_cache_ - head_;
  if (cached >= want) return cached;
  const uint64_t tail = control_->tail.value.load(std::memory_order_acquire);
  // The producer never takes bytes back, and cannot have more than `capacity` bytes
  // outstanding beyond what we released.
  if (tail < tail_cache_ || tail - released_ > capacity_) {
    corrupt_ = true;
    return 0;
  }
  // Fetch every line of the new bytes at once: frames are parsed one after another, and
  // each header's position depends on the previous length, so demand misses would come
  // one at a time.
  const uint64_t first = tail_cache_ > head_ ? tail_cache_ : head_;
  for (uint64_t at = first; at < tail && at < first + kPrefetchBytes; at += kCacheLine) {
    __builtin_prefetch(data_ + at % capacity_, /*rw=*/0);
  }
  tail_cache_ = tail;
  return tail_cache_ - head_;
}

const char* RingReader::Contiguous(uint64_t n) const {
  const uint64_t offset = head_ % capacity_;
  return n <= capacity_ - offset ? data_ + offset : nullptr;
}

void RingReader::ReadWrapped(void* dst, uint64_t n, uint64_t offset) {
  const uint64_t first = capacity_ - offset;
  std::memcpy(dst, data_ + offset, first);
  std::memcpy(static_cast<char*>(dst) + first, data_, n - first);
  head_ += n;
}

void RingReader::Skip(uint64_t n) { head_ += n; }

bool RingReader::Release() {
  if (head_ == released_) return false;
  released_ = head_;
  control_->head.value.store(released_, std::memory_order_release);
  return true;
}

}  // namespace ferry::shm
