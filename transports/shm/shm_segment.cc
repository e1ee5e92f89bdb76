#include "transports/shm/shm_segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/status.h"

namespace ferry::shm {
namespace {

constexpr char kMagic[8] = {'F', 'E', 'R', 'R', 'Y', 'S', 'H', 'M'};
constexpr uint64_t kPage = 4096;

uint64_t RoundUpToPage(uint64_t n) { return (n + kPage - 1) / kPage * kPage; }

absl::StatusOr<UniqueFd> CreateMemfd() {
  absl::StatusOr<int> fd = Syscall(
      "memfd_create", [] { return ::memfd_create("ferry-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING); });
  if (!fd.ok()) return fd.status();
  return UniqueFd(*fd);
}

absl::StatusOr<UniqueFd> CreatePosixShm() {
  SweepStaleShm();
  static std::atomic<uint64_t> counter{0};
  std::random_device random;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const std::string name =
        absl::StrCat("/", kShmNamePrefix, ::getpid(), ".", counter.fetch_add(1), ".", random());
    // O_EXCL: never open someone else's object; 0600 (the umask can only narrow it).
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST || errno == EINTR) continue;
      return ErrnoStatus(absl::StrCat("shm_open(", name, ")"), errno);
    }
    // Unlinked at once: from here on the object lives only as long as descriptors and
    // mappings of it do, and nothing is left in /dev/shm whatever happens next.
    ::shm_unlink(name.c_str());
    return UniqueFd(fd);
  }
  return absl::InternalError("shm_open: could not find an unused name");
}

absl::StatusOr<UniqueFd> CreateFile(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("backing=file needs a directory (dir=)");
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return UniqueFd(fd);
  const int err = errno;
  if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL) {
    if (err == ENOENT || err == ENOTDIR) {
      return absl::InvalidArgumentError(
          absl::StrCat("backing=file: directory \"", dir, "\" does not exist"));
    }
    return ErrnoStatus(absl::StrCat("open(", dir, ", O_TMPFILE)"), err);
  }
  // No O_TMPFILE on this file system: a named file, unlinked at once.
  std::string path = absl::StrCat(dir, "/", kShmNamePrefix, ::getpid(), ".XXXXXX");
  absl::StatusOr<int> named = Syscall(absl::StrCat("mkostemp(", path, ")"),
                                      [&] { return ::mkostemp(&path[0], O_CLOEXEC); });
  if (!named.ok()) return named.status();
  ::unlink(path.c_str());
  if (::fchmod(*named, 0600) != 0) {
    const int e = errno;
    ::close(*named);
    return ErrnoStatus("fchmod", e);
  }
  return UniqueFd(*named);
}

absl::Status SizeAndSeal(int fd, Backing backing, uint64_t size) {
  if (backing == Backing::kMemfd) {
    // memfd_create makes 0777 inodes; only /proc/<pid>/fd can reach one, but be explicit.
    if (absl::Status s = Syscall("fchmod(memfd)", [&] { return ::fchmod(fd, 0600); }).status();
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s =
          Syscall("ftruncate", [&] { return ::ftruncate(fd, static_cast<off_t>(size)); }).status();
      !s.ok()) {
    return s;
  }
  // Allocate now: a full tmpfs or disk must fail here, not as SIGBUS on a later store.
  const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (err != 0 && err != EOPNOTSUPP && err != EINVAL) return ErrnoStatus("posix_fallocate", err);
  if (backing == Backing::kMemfd) {
    return Syscall(
               "fcntl(F_ADD_SEALS)",
               [&] { return ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL); })
        .status();
  }
  return absl::OkStatus();
}

absl::StatusOr<void*> MapShared(int fd, uint64_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return ErrnoStatus("mmap(segment)", errno);
  return p;
}

}  // namespace

absl::string_view BackingName(Backing backing) {
  switch (backing) {
    case Backing::kMemfd:
      return "memfd";
    case Backing::kPosixShm:
      return "shm";
    case Backing::kFile:
      return "file";
  }
  return "?";
}

absl::StatusOr<Backing> ParseBacking(absl::string_view name) {
  for (int i = 0; i < kBackingCount; ++i) {
    if (name == BackingName(static_cast<Backing>(i))) return static_cast<Backing>(i);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown shm backing \"", name, "\" (known: memfd, shm, file)"));
}

absl::string_view WakeModeName(WakeMode mode) {
  switch (mode) {
    case WakeMode::kSpin:
      return "spin";
    case WakeMode::kFutex:
      return "futex";
    case WakeMode::kEventFd:
      return "eventfd";
    case WakeMode::kSignal:
      return "signal";
  }
  return "?";
}

absl::StatusOr<WakeMode> ParseWakeMode(absl::string_view name) {
  for (int i = 0; i < kWakeModeCount; ++i) {
    if (name == WakeModeName(static_cast<WakeMode>(i))) return static_cast<WakeMode>(i);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown shm wake-up \"", name, "\" (known: spin, futex, eventfd, signal)"));
}

absl::StatusOr<SegmentLayout> SegmentLayout::ForCapacity(uint64_t ring_capacity) {
  if (ring_capacity < kMinRingCapacity || ring_capacity > kMaxRingCapacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("shm ring of ", ring_capacity, " bytes; it must hold between ",
                     kMinRingCapacity, " and ", kMaxRingCapacity, " bytes"));
  }
  SegmentLayout l;
  l.ring_capacity = ring_capacity;
  l.request_data = RoundUpToPage(sizeof(SegmentHeader));
  l.reply_data = l.request_data + RoundUpToPage(ring_capacity);
  l.size = l.reply_data + RoundUpToPage(ring_capacity);
  return l;
}

absl::StatusOr<std::pair<Segment, UniqueFd>> Segment::Create(Backing backing,
                                                             const std::string& file_dir,
                                                             const SegmentLayout& layout) {
  absl::StatusOr<UniqueFd> fd = backing == Backing::kMemfd      ? CreateMemfd()
                                : backing == Backing::kPosixShm ? CreatePosixShm()
                                                                : CreateFile(file_dir);
  if (!fd.ok()) return fd.status();
  if (absl::Status s = SizeAndSeal(fd->get(), backing, layout.size); !s.ok()) return s;
  absl::StatusOr<void*> base = MapShared(fd->get(), layout.size);
  if (!base.ok()) return base.status();
  // The object is fresh (zero-filled), so placement-new only makes the atomics official.
  auto* h = new (*base) SegmentHeader{};
  std::memcpy(h->magic, kMagic, sizeof(kMagic));
  h->version = kSegmentVersion;
  h->ring_capacity = layout.ring_capacity;
  return std::make_pair(Segment(*base, layout), *std::move(fd));
}

absl::StatusOr<Segment> Segment::Map(int fd, Backing backing, const SegmentLayout& layout) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus("fstat(segment)", errno);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError("the peer's segment is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) < layout.size) {
    return absl::InvalidArgumentError(absl::StrCat("the peer's segment holds ", st.st_size,
                                                   " bytes; its rings need ", layout.size));
  }
  if (backing == Backing::kMemfd) {
    const int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
      return absl::InvalidArgumentError("the peer's memfd segment is not sealed against shrinking");
    }
  }
  absl::StatusOr<void*> base = MapShared(fd, layout.size);
  if (!base.ok()) return base.status();
  Segment segment(*base, layout);
  const SegmentHeader* h = segment.header();
  if (std::memcmp(h->magic, kMagic, sizeof(kMagic)) != 0 || h->version != kSegmentVersion ||
      h->ring_capacity != layout.ring_capacity) {
    return absl::InvalidArgumentError("the peer's segment header does not match its hello");
  }
  return segment;
}

Segment::Segment(Segment&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), layout_(other.layout_) {}

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    Unmap();
    base_ = std::exchange(other.base_, nullptr);
    layout_ = other.layout_;
  }
  return *this;
}

Segment::~Segment() { Unmap(); }

void Segment::Unmap() {
  if (base_ != nullptr) ::munmap(base_, layout_.size);
  base_ = nullptr;
}

void SweepStaleShm() {
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return;
  const uid_t me = ::getuid();
  const size_t prefix_len = sizeof(kShmNamePrefix) - 1;
  while (dirent* e = ::readdir(dir)) {
    absl::string_view name(e->d_name);
    if (name.substr(0, prefix_len) != kShmNamePrefix) continue;
    absl::string_view rest = name.substr(prefix_len);
    int pid = 0;
    if (!absl::SimpleAtoi(rest.substr(0, rest.find('.')), &pid) || pid <= 0) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    struct stat st;
    const std::string path = absl::StrCat("/dev/shm/", name);
    if (::lstat(path.c_str(), &st) != 0 || st.st_uid != me || !S_ISREG(st.st_mode)) continue;
    ::shm_unlink(absl::StrCat("/", name).c_str());
  }
  ::closedir(dir);
}

}  // namespace ferry::shm
