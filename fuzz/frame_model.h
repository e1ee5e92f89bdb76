// The reference model the reassembly fuzzers compare against: what a correct receiver
// makes of a byte stream, parsed all at once with FrameHeader::Parse.
#ifndef FERRY_FUZZ_FRAME_MODEL_H_
#define FERRY_FUZZ_FRAME_MODEL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/frame.h"

namespace ferry::fuzz {

struct ExpectedFrames {
  std::vector<std::pair<FrameHeader, std::string>> frames;
  absl::Status error;    // the first malformed header's error; OK if none
  size_t leftover = 0;   // bytes of an incomplete last frame (error OK only)
};

inline ExpectedFrames ParseWholeStream(absl::string_view s, uint32_t limit) {
  ExpectedFrames e;
  while (s.size() >= kFrameHeaderSize) {
    absl::StatusOr<FrameHeader> h = FrameHeader::Parse(s, limit);
    if (!h.ok()) {
      e.error = h.status();
      return e;
    }
    if (s.size() - kFrameHeaderSize < h->payload_length) break;
    e.frames.emplace_back(*h, std::string(s.substr(kFrameHeaderSize, h->payload_length)));
    s.remove_prefix(kFrameHeaderSize + h->payload_length);
  }
  e.leftover = s.size();
  return e;
}

}  // namespace ferry::fuzz

#endif  // FERRY_FUZZ_FRAME_MODEL_H_
