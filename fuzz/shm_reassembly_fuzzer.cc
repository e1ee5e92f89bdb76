// Fuzzes the shm transport's receive side: how ShmConnection::Receive reassembles frames
// from a ring that a hostile peer fills with arbitrary bytes, published in arbitrary
// pieces, with frames that wrap around the ring's end or are larger than the ring (the
// streamed copy path). Compared against fuzz/frame_model.h.
//
// Input: byte 0 picks the ring size (4096, an odd size, or 16 KiB), bytes 1-2 seed the
// sizes of the published pieces; the rest is what the peer writes. Each input gets a fresh
// connection (the same set-up layer the transport uses: abstract rendezvous, memfd
// segment); the "peer" is a raw shm::Link driven by this thread, the receiver the real
// ShmConnection that the listener accepted.
// Properties: the same frames as the model, in order; then the model's error (sticky), or,
// once the peer closes, UNAVAILABLE; the process never blocks (every Receive has a past
// deadline) and progress is always possible (a full ring holds data the receiver takes).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fuzz/check.h"
#include "fuzz/frame_model.h"
#include "runtime/frame.h"
#include "transports/shm/shm_link.h"
#include "transports/shm/shm_setup.h"
#include "transports/shm/shm_transport.h"
#include "transports/transport.h"

namespace ferry {
namespace {

constexpr uint32_t kLimit = 100000;  // larger than every ring: big frames stream through
constexpr uint64_t kRings[] = {4096, 4096 + 61, 16384};

struct Server {
  ShmTransport transport;
  std::string name;
  std::unique_ptr<Listener> listener;
};

Server& TheServer() {
  static Server* server = [] {
    auto* s = new Server;
    s->name = absl::StrCat("fuzz-", ::getpid(), "-", absl::Hex(std::random_device{}()));
    ConnectionLimits limits;
    limits.max_frame_payload = kLimit;
    absl::StatusOr<Address> addr = Address::Parse("shm://" + s->name);
    FUZZ_CHECK(addr.ok()) << addr.status();
    absl::StatusOr<std::unique_ptr<Listener>> l = s->transport.Listen(*addr, limits);
    FUZZ_CHECK(l.ok()) << l.status();
    s->listener = *std::move(l);
    return s;
  }();
  return *server;
}

absl::Time Past() { return absl::InfinitePast(); }

}  // namespace
}  // namespace ferry

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;
  if (size < 3) return 0;
  Server& server = TheServer();
  shm::ShmOptions options;
  options.ring_capacity = kRings[data[0] % 3];
  uint32_t rng = (uint32_t{data[1]} << 8 | data[2]) * 2654435761u + 7;
  const absl::string_view bytes(reinterpret_cast<const char*>(data) + 3, size - 3);
  const fuzz::ExpectedFrames want = fuzz::ParseWholeStream(bytes, kLimit);

  absl::StatusOr<shm::Endpoint> ep =
      shm::ConnectEndpoint(server.name, options, absl::Now() + absl::Seconds(10));
  FUZZ_CHECK(ep.ok()) << ep.status();
  auto peer = std::make_unique<shm::Link>(*std::move(ep));
  absl::StatusOr<std::unique_ptr<Connection>> accepted = server.listener->Accept();
  FUZZ_CHECK(accepted.ok()) << accepted.status();
  std::unique_ptr<Connection> conn = *std::move(accepted);

  size_t written = 0, got = 0;
  bool failed = false;
  // Takes every frame that is complete now; false once the receiver reported an error.
  auto drain = [&]() {
    for (;;) {
      absl::StatusOr<Frame> f = conn->Receive(Past());
      if (f.ok()) {
        FUZZ_CHECK(got < want.frames.size()) << "an extra frame";
        FUZZ_CHECK(f->header == want.frames[got].first) << "frame " << got << " header";
        FUZZ_CHECK(f->payload == want.frames[got].second) << "frame " << got << " payload";
        ++got;
        continue;
      }
      if (f.status().code() == absl::StatusCode::kDeadlineExceeded) return true;
      FUZZ_CHECK(!want.error.ok()) << "unexpected " << f.status();
      FUZZ_CHECK(f.status() == want.error) << f.status() << " vs " << want.error;
      FUZZ_CHECK(got == want.frames.size());
      FUZZ_CHECK(conn->Receive(Past()).status() == want.error) << "not sticky";
      failed = true;
      return false;
    }
  };
  int stuck = 0;
  while (written < bytes.size() && !failed) {
    rng = rng * 1664525u + 1013904223u;
    const uint64_t piece = 1 + (rng >> 8) % (2 * options.ring_capacity);
    const uint64_t n = std::min<uint64_t>(
        {piece, bytes.size() - written, peer->out().Free(piece)});
    if (n > 0) {
      peer->out().Write(bytes.data() + written, n);
      peer->Publish();
      written += n;
      stuck = 0;
    } else {
      FUZZ_CHECK(++stuck < 4) << "no room in the ring and nothing for the receiver to take";
    }
    drain();
  }
  if (!failed && drain()) {
    FUZZ_CHECK(want.error.ok()) << "the receiver missed " << want.error;
    FUZZ_CHECK(got == want.frames.size()) << got << " of " << want.frames.size() << " frames";
    // The peer goes away: the receiver now reports UNAVAILABLE, not a frame or a hang.
    peer->Shutdown();
    absl::StatusOr<Frame> end = conn->Receive(absl::Now() + absl::Seconds(10));
    FUZZ_CHECK(end.status().code() == absl::StatusCode::kUnavailable) << end.status();
  }
  conn->Close();
  peer->Shutdown();
  return 0;
}
