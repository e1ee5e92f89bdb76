// A producer and a consumer thread hammer one ring, for ThreadSanitizer (see
// ring_tsan_test.sh, which builds this with clang -fsanitize=thread together with
// shm_ring.cc and shm_wait.cc, and nothing else). Frames of random length (1 byte to
// 2.5x the ring, so some stream through in pieces) carry a length prefix and a pattern the
// consumer checks byte by byte; the ring capacity is odd so wrap-around lands everywhere.
// Every wake-up mode is exercised, including the sleep/wake paths (tiny spin budgets).
// Every other payload is checked in place (RingReader::Take, as a streamed receive reads
// it) instead of copied out.
//
// Exit status 0 on success; a data race makes TSan exit non-zero (halt_on_error=1).
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "transports/shm/shm_ring.h"
#include "transports/shm/shm_wait.h"

namespace ferry::shm {
namespace {

constexpr uint64_t kCapacity = 4099;
constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

uint8_t PatternByte(uint32_t frame, uint64_t i) {
  return static_cast<uint8_t>((frame * 131u) ^ (i * 7u) ^ (i >> 8));
}

struct Shared {
  RingControl control;
  std::vector<char> bytes = std::vector<char>(kCapacity);
};

// Waits for room, writes, publishes in pieces: what Link::Write does, minus the Link.
void Produce(Shared& s, RingWriter& w, const Doorbell& data, const Doorbell& space, const char* p,
             uint64_t n) {
  while (n > 0) {
    uint64_t free = w.Free(1);
    if (free == 0) {
      w.Publish();
      Notify(s.control.data, data);
      Wait(
          s.control.space, space, kForever, [&] { return w.Free(1) >= 1; },
          [](bool) { return false; });
      continue;
    }
    const uint64_t piece = n < free ? n : free;
    w.Write(p, piece);
    p += piece;
    n -= piece;
  }
}

int Run(WakeMode mode, int64_t spin_ns, int frames) {
  auto s = std::make_unique<Shared>();
  int efd_data = -1, efd_space = -1;
  if (mode == WakeMode::kEventFd) {
    efd_data = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    efd_space = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  Doorbell data{mode, spin_ns, efd_data, -1, ::getpid(), SIGRTMIN + 6};
  Doorbell space{mode, spin_ns, efd_space, -1, ::getpid(), SIGRTMIN + 6};
  int errors = 0;

  std::thread producer([&] {
    RingWriter w(&s->control, s->bytes.data(), kCapacity);
    std::mt19937 rng(42);
    std::vector<char> frame;
    for (int f = 0; f < frames; ++f) {
      // Mostly small frames, sometimes large ones (up to 2.5x the ring).
      const uint32_t len = (rng() % 8 == 0) ? rng() % (kCapacity * 5 / 2) + 1 : rng() % 300 + 1;
      frame.resize(8 + len);
      const uint32_t id = static_cast<uint32_t>(f);
      std::memcpy(&frame[0], &id, 4);
      std::memcpy(&frame[4], &len, 4);
      for (uint32_t i = 0; i < len; ++i) frame[8 + i] = static_cast<char>(PatternByte(id, i));
      Produce(*s, w, data, space, frame.data(), frame.size());
      if (rng() % 4 == 0) {  // sometimes batch several frames into one publish
        w.Publish();
        Notify(s->control.data, data);
      }
    }
    w.Publish();
    Notify(s->control.data, data);
  });

  RingReader r(&s->control, s->bytes.data(), kCapacity);
  SpinBudget budget;  // the reader spins adaptively, as Link does
  auto read_exact = [&](char* dst, uint64_t n) {
    while (n > 0) {
      Wait(
          s->control.data, data, kForever, [&] { return r.Available(1) >= 1; },
          [](bool) { return false; }, &budget);
      uint64_t avail = r.Available(1);
      const uint64_t take = avail < n ? avail : n;
      r.Read(dst, take);
      dst += take;
      n -= take;
      r.Release();
      Notify(s->control.space, space);
    }
  };
  std::vector<char> payload;
  for (int f = 0; f < frames && errors < 5; ++f) {
    uint32_t head[2];
    read_exact(reinterpret_cast<char*>(head), 8);
    if (head[0] != static_cast<uint32_t>(f)) {
      std::fprintf(stderr, "frame %d: got id %u\n", f, head[0]);
      ++errors;
      break;
    }
    if (f % 2 == 1) {
      // In place: check each piece in the ring, give back half of it now and then (as a
      // parser backing up), release only after the check.
      uint32_t i = 0;
      while (i < head[1]) {
        Wait(
            s->control.data, data, kForever, [&] { return r.Available(1) >= 1; },
            [](bool) { return false; }, &budget);
        uint64_t n;
        const char* at = r.Take(std::min<uint64_t>(r.Available(1), head[1] - i), &n);
        if (n > 1 && (f + i) % 3 == 0) {
          r.Untake(n / 2);
          n -= n / 2;
        }
        for (uint64_t k = 0; k < n; ++k, ++i) {
          if (static_cast<uint8_t>(at[k]) != PatternByte(head[0], i) && errors++ == 0) {
            std::fprintf(stderr, "frame %d: byte %u differs (in place)\n", f, i);
          }
        }
        r.Release();
        Notify(s->control.space, space);
      }
      continue;
    }
    payload.resize(head[1]);
    read_exact(payload.data(), head[1]);
    for (uint32_t i = 0; i < head[1]; ++i) {
      if (static_cast<uint8_t>(payload[i]) != PatternByte(head[0], i)) {
        std::fprintf(stderr, "frame %d: byte %u differs\n", f, i);
        ++errors;
        break;
      }
    }
  }
  producer.join();
  if (r.corrupt()) ++errors;
  if (efd_data >= 0) ::close(efd_data);
  if (efd_space >= 0) ::close(efd_space);
  return errors;
}

}  // namespace
}  // namespace ferry::shm

int main() {
  using ferry::shm::WakeMode;
  struct Case {
    const char* name;
    WakeMode mode;
    int64_t spin_ns;
    int frames;
  } cases[] = {
      {"spin", WakeMode::kSpin, 0, 100000},
      {"futex (spin 2us)", WakeMode::kFutex, 2000, 100000},
      {"futex (no spin)", WakeMode::kFutex, 0, 40000},
      {"eventfd", WakeMode::kEventFd, 0, 40000},
      {"signal", WakeMode::kSignal, 0, 20000},
  };
  int failed = 0;
  {
    // ShmConnection's send lock: contended increments under it, with futex waits.
    ferry::shm::TimedLock lock;
    int64_t counter = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 20000; ++i) {
          if (!lock.TryLock()) lock.LockUntil(std::numeric_limits<int64_t>::max());
          ++counter;
          lock.Unlock();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    std::printf("%-18s %6d locks:  %s\n", "timed lock", 60000, counter == 60000 ? "ok" : "FAILED");
    if (counter != 60000) ++failed;
  }
  for (const Case& c : cases) {
    const int errors = ferry::shm::Run(c.mode, c.spin_ns, c.frames);
    std::printf("%-18s %6d frames: %s\n", c.name, c.frames, errors == 0 ? "ok" : "FAILED");
    if (errors != 0) ++failed;
  }
  return failed == 0 ? 0 : 1;
}
