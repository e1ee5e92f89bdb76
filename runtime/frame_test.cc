#include "runtime/frame.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

constexpr uint32_t kMax = 4u << 20;

std::string Bytes(const FrameHeader& h) { return h.Serialize(); }

TEST(FrameHeader, RoundTripsEveryType) {
  for (uint8_t t = 1; t <= kMaxFrameType; ++t) {
    FrameHeader h;
    h.type = static_cast<FrameType>(t);
    h.call_id = IsConnectionFrame(h.type) ? 0 : 0xdeadbeef;
    h.flags = (h.type == FrameType::kMessage || h.type == FrameType::kPing) ? 1 : 0;
    h.payload_length = 1234;
    const std::string b = Bytes(h);
    ASSERT_EQ(b.size(), kFrameHeaderSize);
    absl::StatusOr<FrameHeader> back = FrameHeader::Parse(b, kMax);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, h);
    EXPECT_EQ(back->Serialize(), b);
  }
}

TEST(FrameHeader, IsBigEndianOnTheWire) {
  FrameHeader h{FrameType::kMessage, kFlagEndOfStream, 0x01020304, 0x0a0b0c0d};
  const std::string b = Bytes(h);
  EXPECT_EQ(b, std::string("\x46\x52\x01\x05\x01\x00\x00\x00\x01\x02\x03\x04\x0a\x0b\x0c\x0d", 16));
}

TEST(FrameHeader, PayloadAtTheLimitIsAccepted) {
  FrameHeader h{FrameType::kMessage, 0, 1, kMax};
  EXPECT_TRUE(FrameHeader::Parse(Bytes(h), kMax).ok());
}

TEST(FrameHeader, RejectsTruncated) {
  const std::string b = Bytes(FrameHeader{FrameType::kMessage, 0, 1, 3});
  for (size_t n = 0; n < kFrameHeaderSize; ++n) {
    EXPECT_EQ(FrameHeader::Parse(b.substr(0, n), kMax).status().code(),
              absl::StatusCode::kInvalidArgument)
        << n;
  }
}

TEST(FrameHeader, RejectsBadMagic) {
  std::string b = Bytes(FrameHeader{FrameType::kMessage, 0, 1, 3});
  b[0] = 'X';
  EXPECT_EQ(FrameHeader::Parse(b, kMax).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FrameHeader, RejectsOtherVersion) {
  std::string b = Bytes(FrameHeader{FrameType::kMessage, 0, 1, 3});
  b[2] = 2;
  EXPECT_EQ(FrameHeader::Parse(b, kMax).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(FrameHeader, RejectsUnknownType) {
  std::string b = Bytes(FrameHeader{FrameType::kMessage, 0, 1, 3});
  for (int t : {0, 9, 255}) {
    b[3] = static_cast<char>(t);
    EXPECT_EQ(FrameHeader::Parse(b, kMax).status().code(), absl::StatusCode::kInvalidArgument)
        << t;
  }
}

TEST(FrameHeader, RejectsUnknownFlagsAndReservedBytes) {
  std::string b = Bytes(FrameHeader{FrameType::kCallStart, 0, 1, 3});
  b[4] = 2;  // only WITH_MESSAGE (0x01) is defined for CALL_START
  EXPECT_EQ(FrameHeader::Parse(b, kMax).status().code(), absl::StatusCode::kInvalidArgument);
  b[4] = 0;
  b[6] = 1;
  EXPECT_EQ(FrameHeader::Parse(b, kMax).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FrameHeader, RejectsCallIdOnWrongKindOfFrame) {
  EXPECT_EQ(FrameHeader::Parse(Bytes(FrameHeader{FrameType::kPing, 0, 5, 8}), kMax).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      FrameHeader::Parse(Bytes(FrameHeader{FrameType::kMessage, 0, 0, 8}), kMax).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(FrameHeader, RejectsOversizeLengthBeforeAnythingElse) {
  FrameHeader h{FrameType::kMessage, 0, 1, 0xffffffffu};
  EXPECT_EQ(FrameHeader::Parse(Bytes(h), kMax).status().code(),
            absl::StatusCode::kResourceExhausted);
  h.payload_length = kMax + 1;
  EXPECT_EQ(FrameHeader::Parse(Bytes(h), kMax).status().code(),
            absl::StatusCode::kResourceExhausted);
}

// ParseValid (the receive paths' check) accepts exactly what Parse accepts: every value
// of every byte of a valid header of each type, against two limits.
TEST(FrameHeader, ParseValidAgreesWithParse) {
  int accepted = 0;
  for (uint8_t t = 1; t <= kMaxFrameType; ++t) {
    const FrameType type = static_cast<FrameType>(t);
    const FrameHeader valid{type, AllowedFrameFlags(type),
                            IsConnectionFrame(type) ? 0u : 0x01020304u, 100};
    for (size_t at = 0; at < kFrameHeaderSize; ++at) {
      for (int v = 0; v < 256; ++v) {
        std::string b = Bytes(valid);
        b[at] = static_cast<char>(v);
        for (uint32_t limit : {99u, kMax}) {
          absl::StatusOr<FrameHeader> slow = FrameHeader::Parse(b, limit);
          FrameHeader fast;
          ASSERT_EQ(FrameHeader::ParseValid(b.data(), limit, &fast), slow.ok())
              << FrameTypeName(type) << " byte " << at << " = " << v << " limit " << limit
              << ": " << slow.status();
          if (slow.ok()) {
            EXPECT_EQ(fast, *slow);
            ++accepted;
          }
        }
      }
    }
  }
  EXPECT_GT(accepted, 0);
}

TEST(CallStart, RoundTrips) {
  std::string buf;
  Metadata md = {{"x-id", "42"}, {"trace-bin", std::string("\0\1", 2)}, {"x-id", "43"}};
  EncodeCallStart("/pkg.Svc/Get", 1500, md, &buf);
  CallStartView v;
  ASSERT_TRUE(DecodeCallStart(buf, &v).ok());
  EXPECT_EQ(v.method, "/pkg.Svc/Get");
  EXPECT_EQ(v.budget_us, 1500);
  ASSERT_EQ(v.metadata.size(), 3u);
  EXPECT_EQ(v.metadata[1].first, "trace-bin");
  EXPECT_EQ(v.metadata[1].second, std::string("\0\1", 2));
  EXPECT_EQ(v.metadata[2].second, "43");
}

TEST(CallStart, RejectsEveryTruncationAndTrailingBytes) {
  std::string buf;
  EncodeCallStart("/a.B/C", kNoDeadline, {{"k", "v"}}, &buf);
  CallStartView v;
  for (size_t n = 0; n < buf.size(); ++n) {
    EXPECT_EQ(DecodeCallStart(buf.substr(0, n), &v).code(), absl::StatusCode::kInvalidArgument)
        << n;
  }
  EXPECT_EQ(DecodeCallStart(buf + "x", &v).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CallEnd, RoundTripsStatusAndTrailers) {
  std::string buf;
  EncodeCallEnd(absl::NotFoundError("no key \"a\""), {{"retry", "no"}}, &buf);
  CallEndView v;
  ASSERT_TRUE(DecodeCallEnd(buf, &v).ok());
  EXPECT_EQ(v.code, absl::StatusCode::kNotFound);
  EXPECT_EQ(v.message, "no key \"a\"");
  ASSERT_EQ(v.trailers.size(), 1u);
  EXPECT_EQ(v.trailers[0].first, "retry");
}

TEST(CallStart, EncoderGivesTheSameBytesAsEncodeCallStartWhateverCameBefore) {
  // Repeated, changed, longer, shorter and prefix-sharing methods; deadlines and metadata
  // coming and going: every payload must equal a fresh encoding.
  const Metadata md = {{"x-id", "7"}};
  const struct {
    const char* method;
    int64_t budget;
    bool with_md;
  } calls[] = {{"/a.B/Get", kNoDeadline, false}, {"/a.B/Get", 1500, true},
               {"/a.B/Get", kNoDeadline, false}, {"/a.B/GetMore", 0, false},
               {"/a.B/Ge", kNoDeadline, true},   {"/a.B/Ge", 99, false},
               {"/x.Y/Get", kNoDeadline, false}, {"", kNoDeadline, false},
               {"/a.B/Get", 1, true}};
  CallStartEncoder encoder;
  for (const auto& c : calls) {
    const Metadata& m = c.with_md ? md : Metadata();
    std::string expected;
    EncodeCallStart(c.method, c.budget, m, &expected);
    EXPECT_EQ(encoder.Encode(c.method, c.budget, m), expected) << c.method << " " << c.budget;
  }
}

TEST(CallEnd, OkWithoutTrailersHasOneCanonicalPayload) {
  std::string buf;
  EncodeCallEnd(absl::OkStatus(), {}, &buf);
  EXPECT_EQ(OkCallEndPayload(), buf);
  CallEndView v;
  v.code = absl::StatusCode::kInternal;
  v.message = "stale";
  v.trailers.emplace_back("stale", "x");
  ASSERT_TRUE(DecodeCallEnd(OkCallEndPayload(), &v).ok());
  EXPECT_EQ(v.code, absl::StatusCode::kOk);
  EXPECT_TRUE(v.message.empty());
  EXPECT_TRUE(v.trailers.empty());
  // An OK status with trailers is not the canonical payload and still decodes in full.
  buf.clear();
  EncodeCallEnd(absl::OkStatus(), {{"k", "v"}}, &buf);
  ASSERT_TRUE(DecodeCallEnd(buf, &v).ok());
  ASSERT_EQ(v.trailers.size(), 1u);
  EXPECT_EQ(v.trailers[0].second, "v");
}

TEST(CallEnd, RejectsUnknownCode) {
  std::string buf;
  EncodeCallEnd(absl::OkStatus(), {}, &buf);
  buf[3] = 17;
  CallEndView v;
  EXPECT_EQ(DecodeCallEnd(buf, &v).code(), absl::StatusCode::kInvalidArgument);
}

TEST(HelloAndGoAway, RoundTrip) {
  std::string buf;
  EncodeHello(HelloPayload{123456}, &buf);
  absl::StatusOr<HelloPayload> h = DecodeHello(buf);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->max_message_size, 123456u);
  EXPECT_EQ(h->features, 0u);
  EXPECT_FALSE(DecodeHello(buf.substr(0, 3)).ok());
  // A HELLO from before the features field (4 bytes) offers none.
  h = DecodeHello(buf.substr(0, 4));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->features, 0u);
  buf.clear();
  EncodeHello(HelloPayload{7, kFeatureUnaryFrames | 0x80}, &buf);
  h = DecodeHello(buf);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->features, kFeatureUnaryFrames | 0x80u);  // unknown bits are kept, not refused
  EXPECT_FALSE(DecodeHello(buf + "x").ok());

  buf.clear();
  EncodeGoAway(GoAwayPayload{77, absl::StatusCode::kUnavailable, "shutting down"}, &buf);
  absl::StatusOr<GoAwayPayload> g = DecodeGoAway(buf);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->last_call_id, 77u);
  EXPECT_EQ(g->message, "shutting down");
}

TEST(Deadline, BudgetConvertsOnceAndSaturates) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(DeadlineToBudgetMicros(absl::InfiniteFuture(), now), kNoDeadline);
  EXPECT_EQ(DeadlineToBudgetMicros(now - absl::Seconds(1), now), 0);
  EXPECT_EQ(DeadlineToBudgetMicros(now + absl::Milliseconds(3), now), 3000);
  EXPECT_EQ(DeadlineToBudgetMicros(now + absl::Nanoseconds(1), now), 1);
  EXPECT_EQ(BudgetMicrosToDeadline(kNoDeadline, now), absl::InfiniteFuture());
  EXPECT_EQ(BudgetMicrosToDeadline(2500, now), now + absl::Microseconds(2500));
}

TEST(Metadata, ValidatesKeys) {
  EXPECT_TRUE(ValidateMetadata({{"x-a.b_c-bin", "\xff"}}).ok());
  EXPECT_EQ(ValidateMetadata({{"X-Upper", "v"}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateMetadata({{"", "v"}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateMetadata({{":path", "v"}}).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CallStart, WithMessageSplitsOffTheMessage) {
  std::string buf;
  EncodeCallStart("/p.S/M", 1500, {{"k", "v"}}, &buf);
  const std::string start = buf;
  buf += "request bytes";
  CallStartView v;
  absl::string_view message;
  ASSERT_TRUE(DecodeCallStartWithMessage(buf, &v, &message).ok());
  EXPECT_EQ(v.method, "/p.S/M");
  EXPECT_EQ(v.budget_us, 1500);
  ASSERT_EQ(v.metadata.size(), 1u);
  EXPECT_EQ(message, "request bytes");
  // Plain CALL_START refuses the trailing bytes; the with-message form accepts none.
  EXPECT_EQ(DecodeCallStart(buf, &v).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(DecodeCallStartWithMessage(start, &v, &message).ok());
  EXPECT_TRUE(message.empty());
  // A truncated call-start part is still an error.
  EXPECT_EQ(DecodeCallStartWithMessage(start.substr(0, 5), &v, &message).code(),
            absl::StatusCode::kInvalidArgument);
}

// Read in pieces: every cut inside the call-start part asks for more; a cut after it
// decodes with the message's first bytes; a bad budget is final however many bytes come.
TEST(CallStart, PrefixOfAPayloadReadInPieces) {
  std::string start;
  EncodeCallStart("/p.S/M", 1500, {{"key", "value"}}, &start);
  const std::string bytes = start + "request";
  const absl::string_view payload = bytes;  // (the views point into it)
  CallStartView v;
  absl::string_view message;
  bool need_more = false;
  for (size_t cut = 0; cut < start.size(); ++cut) {
    EXPECT_FALSE(DecodeCallStartPrefix(payload.substr(0, cut), &v, &message, &need_more).ok());
    EXPECT_TRUE(need_more) << cut;
  }
  for (size_t cut = start.size(); cut <= payload.size(); ++cut) {
    ASSERT_TRUE(DecodeCallStartPrefix(payload.substr(0, cut), &v, &message, &need_more).ok());
    EXPECT_FALSE(need_more);
    EXPECT_EQ(v.method, "/p.S/M");
    EXPECT_EQ(message, payload.substr(start.size(), cut - start.size()));
  }
  std::string negative;
  EncodeCallStart("/p.S/M", -5, {}, &negative);
  EXPECT_EQ(DecodeCallStartPrefix(negative + "request", &v, &message, &need_more).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(need_more);
}

TEST(FrameHeader, UnaryFrameFlagsOnlyWhereDefined) {
  char bytes[kFrameHeaderSize];
  FrameHeader{FrameType::kCallStart, kFlagWithMessage, 3, 10}.Serialize(bytes);
  EXPECT_TRUE(FrameHeader::Parse(absl::string_view(bytes, 16), 100).ok());
  FrameHeader{FrameType::kMessage, kFlagEndOfCall, 3, 10}.Serialize(bytes);
  EXPECT_TRUE(FrameHeader::Parse(absl::string_view(bytes, 16), 100).ok());
  FrameHeader{FrameType::kCallEnd, kFlagEndOfCall, 3, 10}.Serialize(bytes);
  EXPECT_EQ(FrameHeader::Parse(absl::string_view(bytes, 16), 100).status().code(),
            absl::StatusCode::kInvalidArgument);
  FrameHeader{FrameType::kCallStart, 0x02, 3, 10}.Serialize(bytes);
  EXPECT_EQ(FrameHeader::Parse(absl::string_view(bytes, 16), 100).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ferry
