// Fuzzes the wire format's parsers (runtime/frame.h).
//
// Input: 16 header bytes, one byte choosing the receiver's payload limit, then a control
// payload. Properties:
//   - FrameHeader::Parse either fails with one of its documented codes, or succeeds and
//     Serialize() gives back exactly the 16 bytes it parsed (parse -> serialize identity),
//     the length is within the limit and call_id is zero exactly for connection frames;
//     FrameHeader::ParseValid accepts exactly what Parse accepts, with the same value;
//   - each control-payload decoder (HELLO, CALL_START, CALL_END, GOAWAY) either fails with
//     INVALID_ARGUMENT or its encoder reproduces the payload byte for byte.
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fuzz/check.h"
#include "runtime/frame.h"

namespace ferry {
namespace {

constexpr uint32_t kLimits[] = {0, 1, 16, 64 << 10, kDefaultMaxMessageSize, 0xffffffffu};

void CheckHeader(absl::string_view bytes, uint32_t limit) {
  absl::StatusOr<FrameHeader> h = FrameHeader::Parse(bytes, limit);
  if (bytes.size() >= kFrameHeaderSize) {
    // The receive paths' status-free check agrees with Parse.
    FrameHeader fast;
    const bool valid = FrameHeader::ParseValid(bytes.data(), limit, &fast);
    FUZZ_CHECK(valid == h.ok()) << "ParseValid says " << valid << ", Parse " << h.status();
    if (valid) {
      FUZZ_CHECK(fast == *h) << "ParseValid read another header";
    }
  }
  if (!h.ok()) {
    const absl::StatusCode c = h.status().code();
    FUZZ_CHECK(c == absl::StatusCode::kInvalidArgument ||
               c == absl::StatusCode::kFailedPrecondition ||
               c == absl::StatusCode::kResourceExhausted)
        << h.status();
    if (bytes.size() < kFrameHeaderSize) {
      FUZZ_CHECK(c == absl::StatusCode::kInvalidArgument);
    }
    return;
  }
  FUZZ_CHECK(bytes.size() >= kFrameHeaderSize);
  FUZZ_CHECK(h->payload_length <= limit) << h->payload_length << " > " << limit;
  FUZZ_CHECK(static_cast<uint8_t>(h->type) >= 1 &&
             static_cast<uint8_t>(h->type) <= kMaxFrameType);
  FUZZ_CHECK(IsConnectionFrame(h->type) == (h->call_id == 0)) << FrameTypeName(h->type);
  char out[kFrameHeaderSize];
  h->Serialize(out);
  FUZZ_CHECK(std::memcmp(out, bytes.data(), kFrameHeaderSize) == 0)
      << "parse -> serialize changed the header";
  FUZZ_CHECK(h->Serialize() == bytes.substr(0, kFrameHeaderSize));
  // And parsing what we serialized gives the same value.
  absl::StatusOr<FrameHeader> again = FrameHeader::Parse(absl::string_view(out, 16), limit);
  FUZZ_CHECK(again.ok() && *again == *h);
}

void CheckPayloads(absl::string_view p) {
  if (absl::StatusOr<HelloPayload> hello = DecodeHello(p); hello.ok()) {
    std::string back;
    EncodeHello(*hello, &back);
    // A 4-byte HELLO (no features field) re-encodes with an explicit zero field.
    FUZZ_CHECK(back == p || (p.size() == 4 && hello->features == 0 &&
                             back == std::string(p) + std::string(4, '\0')))
        << "HELLO";
  } else {
    FUZZ_CHECK(hello.status().code() == absl::StatusCode::kInvalidArgument) << hello.status();
  }

  CallStartView start;
  if (absl::Status s = DecodeCallStart(p, &start); s.ok()) {
    FUZZ_CHECK(start.budget_us >= kNoDeadline);
    Metadata md;
    for (const auto& [k, v] : start.metadata) md.emplace_back(std::string(k), std::string(v));
    std::string back;
    EncodeCallStart(start.method, start.budget_us, md, &back);
    FUZZ_CHECK(back == p) << "CALL_START";
    // Without trailing bytes the with-message form decodes the same, with no message.
    CallStartView again;
    absl::string_view message = "x";
    FUZZ_CHECK(DecodeCallStartWithMessage(p, &again, &message).ok() && message.empty() &&
               again.method == start.method && again.budget_us == start.budget_us);
  } else {
    FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument) << s;
  }

  CallEndView end;
  if (absl::Status s = DecodeCallEnd(p, &end); s.ok()) {
    // An OK status carries no message in absl::Status, and the encoder caps messages at
    // half the control limit: only those payloads can round-trip.
    if ((end.code != absl::StatusCode::kOk || end.message.empty()) &&
        end.message.size() <= kMaxControlPayload / 2) {
      Metadata md;
      for (const auto& [k, v] : end.trailers) md.emplace_back(std::string(k), std::string(v));
      std::string back;
      EncodeCallEnd(absl::Status(end.code, end.message), md, &back);
      FUZZ_CHECK(back == p) << "CALL_END";
    }
  } else {
    FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument) << s;
  }

  if (absl::StatusOr<GoAwayPayload> g = DecodeGoAway(p); g.ok()) {
    std::string back;
    EncodeGoAway(*g, &back);
    FUZZ_CHECK(back == p) << "GOAWAY";
  } else {
    FUZZ_CHECK(g.status().code() == absl::StatusCode::kInvalidArgument) << g.status();
  }
}

}  // namespace
}  // namespace ferry

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  const absl::string_view header = in.substr(0, ferry::kFrameHeaderSize);
  const uint32_t limit =
      in.size() > ferry::kFrameHeaderSize
          ? ferry::kLimits[static_cast<uint8_t>(in[ferry::kFrameHeaderSize]) %
                           (sizeof(ferry::kLimits) / sizeof(ferry::kLimits[0]))]
          : ferry::kDefaultMaxMessageSize;
  ferry::CheckHeader(header, limit);
  // Header bytes beyond the first 16 must not matter.
  if (in.size() > ferry::kFrameHeaderSize) ferry::CheckHeader(in, limit);
  if (in.size() > ferry::kFrameHeaderSize + 1) {
    ferry::CheckPayloads(in.substr(ferry::kFrameHeaderSize + 1));
  }
  return 0;
}
