// The shared segment of one shm connection: its layout, and how it is created and mapped
// for each backing (memfd, POSIX shm, a regular file).
//
// Overview: one segment per connection, created by the client, passed to the server as a
// file descriptor (SCM_RIGHTS, see shm_setup.h), mapped by both:
//
//   offset 0                  SegmentHeader (one page)
//     line 0                  magic "FERRYSHM", version, ring capacity (written once)
//     line 1                  client_closed  (written by the client only)
//     line 2                  server_closed  (written by the server only)
//     lines 3-6               RingControl of the request ring  (client -> server)
//     lines 7-10              RingControl of the reply ring    (server -> client)
//   request_data (page 1)     ring_capacity bytes of the request ring
//   reply_data (page-aligned) ring_capacity bytes of the reply ring
//
// Every offset is a pure function of the ring capacity (SegmentLayout::ForCapacity), which
// the server learns from the client's hello message, not from shared memory; the header's
// copy is only a sanity check. Nothing in the segment is a pointer.
//
// Backings (all created owner-only, 0600, and never left with a name):
//   memfd  memfd_create(2): never has a name at all. Sealed against shrinking and growing
//          (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), so neither side can truncate it
//          under the other (which would make the other's accesses raise SIGBUS). Default.
//   shm    shm_open(3) under /dev/shm with a unique name "ferry-shm.<pid>.<n>.<random>",
//          unlinked right after it is sized, before anyone else learns of it. Only a process
//          killed inside that window of microseconds leaves a name behind; SweepStaleShm()
//          (run before every creation) removes names whose creator pid is dead.
//   file   a regular file in a directory (default /tmp), the lectures' "shared file",
//          created with O_TMPFILE so it never has a name (falls back to mkostemp + unlink
//          where the file system lacks O_TMPFILE). On a disk file system its dirty pages
//          are written back periodically, which the comparison is meant to show.
// The shm and file backings cannot be sealed: a peer that truncates them can crash the
// other side with SIGBUS. Peers are authenticated by uid (same uid by default), so this is
// a peer that could ptrace us anyway; prefer memfd when peers of other uids are allowed.
//
// Storage is allocated up front (fallocate) and the mapping is pre-faulted (MAP_POPULATE),
// so neither a full tmpfs nor first-touch page faults can surface on the fast path.
#ifndef FERRY_TRANSPORTS_SHM_SHM_SEGMENT_H_
#define FERRY_TRANSPORTS_SHM_SHM_SEGMENT_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "transports/shm/shm_ring.h"
#include "transports/shm/shm_wait.h"
#include "transports/stream/fd.h"

namespace ferry::shm {

enum class Backing : uint8_t { kMemfd = 0, kPosixShm = 1, kFile = 2 };
inline constexpr int kBackingCount = 3;

// "memfd", "shm", "file" / "spin", "futex", "eventfd", "signal": the address option values.
absl::string_view BackingName(Backing backing);
absl::StatusOr<Backing> ParseBacking(absl::string_view name);  // INVALID_ARGUMENT
absl::string_view WakeModeName(WakeMode mode);
absl::StatusOr<WakeMode> ParseWakeMode(absl::string_view name);  // INVALID_ARGUMENT

inline constexpr uint64_t kMinRingCapacity = 4096;
inline constexpr uint64_t kMaxRingCapacity = uint64_t{1} << 30;
inline constexpr uint64_t kDefaultRingCapacity = uint64_t{1} << 20;
inline constexpr uint32_t kSegmentVersion = 1;
// Names of POSIX shm objects (under /dev/shm) start with this.
inline constexpr char kShmNamePrefix[] = "ferry-shm.";

struct SegmentLayout {
  uint64_t ring_capacity = 0;
  uint64_t request_data = 0;  // offset of the request ring's bytes
  uint64_t reply_data = 0;    // offset of the reply ring's bytes
  uint64_t size = 0;          // bytes in the segment

  // INVALID_ARGUMENT unless kMinRingCapacity <= ring_capacity <= kMaxRingCapacity. Any
  // capacity in range works (the ring does not need a power of two).
  static absl::StatusOr<SegmentLayout> ForCapacity(uint64_t ring_capacity);
};

struct SegmentHeader {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t ring_capacity;
  alignas(kCacheLine) std::atomic<uint32_t> client_closed;
  alignas(kCacheLine) std::atomic<uint32_t> server_closed;
  alignas(kCacheLine) RingControl requests;
  RingControl replies;
};
static_assert(sizeof(SegmentHeader) <= 4096, "the header fits in the first page");

// A mapped segment. Move-only; unmaps on destruction.
class Segment {
 public:
  // Creates a segment of `layout` on `backing` (`file_dir` for Backing::kFile), maps it
  // and initialises the header. Returns the mapping and the descriptor to pass to the
  // peer. Errors: RESOURCE_EXHAUSTED (no memory, no space, no fds), PERMISSION_DENIED
  // (file_dir not writable), INVALID_ARGUMENT (file_dir missing), INTERNAL.
  static absl::StatusOr<std::pair<Segment, UniqueFd>> Create(Backing backing,
                                                             const std::string& file_dir,
                                                             const SegmentLayout& layout);

  // Maps a segment received from a peer, after checking what can be checked about a
  // descriptor someone else made: a regular file, large enough, sealed if `backing` is
  // memfd, and a header that matches `layout`. INVALID_ARGUMENT names the first problem.
  static absl::StatusOr<Segment> Map(int fd, Backing backing, const SegmentLayout& layout);

  Segment() = default;
  Segment(Segment&& other) noexcept;
  Segment& operator=(Segment&& other) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  bool mapped() const { return base_ != nullptr; }
  const SegmentLayout& layout() const { return layout_; }
  SegmentHeader* header() const { return static_cast<SegmentHeader*>(base_); }
  char* request_data() const { return static_cast<char*>(base_) + layout_.request_data; }
  char* reply_data() const { return static_cast<char*>(base_) + layout_.reply_data; }

 private:
  Segment(void* base, const SegmentLayout& layout) : base_(base), layout_(layout) {}
  void Unmap();

  void* base_ = nullptr;
  SegmentLayout layout_;
};

// Unlinks /dev/shm/ferry-shm.<pid>.* objects owned by this uid whose creator pid no
// longer exists (left by a process SIGKILLed between shm_open and shm_unlink). Cheap
// (one readdir of /dev/shm); best effort.
void SweepStaleShm();

}  // namespace ferry::shm

#endif  // FERRY_TRANSPORTS_SHM_SHM_SEGMENT_H_
