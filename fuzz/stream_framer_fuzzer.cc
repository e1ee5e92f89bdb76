// Fuzzes the stream framer (transports/stream/stream_framer.h) with arbitrary byte streams
// delivered in arbitrary pieces, against a reference model that parses the whole stream
// at once.
//
// Input: byte 0 picks the framer's chunk size, byte 1 the payload limit, bytes 2-3 seed the
// piece sizes the stream is cut into (1 byte up to twice the chunk); the rest is the
// stream. Properties:
//   - the framer returns exactly the reference's frames (headers and payload bytes), in
//     order, whatever the cuts;
//   - it then reports the reference's error (sticky: asked again, the same error), or
//     "need more" with mid_frame() true iff bytes of an incomplete frame are buffered;
//   - PrepareRead() always offers at least the missing bytes, and the buffer never grows
//     beyond max(chunk, 16 + limit), the bound its header promises.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fuzz/check.h"
#include "fuzz/frame_model.h"
#include "runtime/frame.h"
#include "transports/stream/stream_framer.h"

namespace ferry {
namespace {

constexpr uint32_t kLimits[] = {0, 1, 100, 4096, 65536};

}  // namespace
}  // namespace ferry

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ferry::StreamFramer;
  if (size < 4) return 0;
  const size_t chunk = 16 + (size_t{data[0]} * 37) % 8192;
  const uint32_t limit = ferry::kLimits[data[1] % (sizeof(ferry::kLimits) / sizeof(uint32_t))];
  uint32_t rng = (uint32_t{data[2]} << 8 | data[3]) * 2654435761u + 1;
  const absl::string_view stream(reinterpret_cast<const char*>(data) + 4, size - 4);
  const ferry::fuzz::ExpectedFrames want = ferry::fuzz::ParseWholeStream(stream, limit);

  StreamFramer framer(limit, chunk);
  const size_t max_capacity = std::max<size_t>(std::max(chunk, ferry::kFrameHeaderSize),
                                               ferry::kFrameHeaderSize + size_t{limit});
  size_t fed = 0, got = 0;
  for (;;) {
    StreamFramer::Result r = framer.Next();
    if (r.kind == StreamFramer::kFrame) {
      FUZZ_CHECK(got < want.frames.size()) << "an extra frame";
      FUZZ_CHECK(r.frame.header == want.frames[got].first) << "frame " << got << " header";
      FUZZ_CHECK(r.frame.payload == want.frames[got].second) << "frame " << got << " payload";
      ++got;
      continue;
    }
    if (r.kind == StreamFramer::kError) {
      FUZZ_CHECK(!want.error.ok()) << "unexpected error " << r.error;
      FUZZ_CHECK(r.error == want.error) << r.error << " vs " << want.error;
      FUZZ_CHECK(got == want.frames.size()) << "error after " << got << " frames";
      StreamFramer::Result again = framer.Next();
      FUZZ_CHECK(again.kind == StreamFramer::kError && again.error == want.error) << "not sticky";
      return 0;
    }
    FUZZ_CHECK(r.missing > 0);
    if (fed == stream.size()) break;
    absl::Span<char> room = framer.PrepareRead();
    FUZZ_CHECK(room.size() >= r.missing) << room.size() << " < missing " << r.missing;
    FUZZ_CHECK(framer.capacity() <= max_capacity)
        << "buffer " << framer.capacity() << " > bound " << max_capacity;
    rng = rng * 1664525u + 1013904223u;
    const size_t piece = 1 + (rng >> 8) % (2 * chunk);
    const size_t n = std::min({piece, room.size(), stream.size() - fed});
    std::memcpy(room.data(), stream.data() + fed, n);
    framer.CommitRead(n);
    fed += n;
  }
  FUZZ_CHECK(want.error.ok()) << "the framer missed " << want.error;
  FUZZ_CHECK(got == want.frames.size()) << got << " of " << want.frames.size() << " frames";
  FUZZ_CHECK(framer.mid_frame() == (want.leftover > 0)) << "leftover " << want.leftover;
  framer.Release();
  FUZZ_CHECK(framer.Next().kind == StreamFramer::kNeedMore);
  return 0;
}
