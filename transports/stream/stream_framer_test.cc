#include "transports/stream/stream_framer.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/frame.h"

namespace ferry {
namespace {

std::string Wire(FrameType type, uint32_t call_id, absl::string_view payload) {
  FrameHeader h{type, 0, call_id, static_cast<uint32_t>(payload.size())};
  return absl::StrCat(h.Serialize(), payload);
}

// Feeds `bytes` into the framer, at most `max_commit` per CommitRead(), the way a
// connection would, collecting frames. Stops at an error.
struct Fed {
  std::vector<std::pair<FrameHeader, std::string>> frames;
  absl::Status error;
  int commits = 0;
};
Fed Feed(StreamFramer& framer, absl::string_view bytes, size_t max_commit) {
  Fed out;
  for (;;) {
    StreamFramer::Result r = framer.Next();
    if (r.kind == StreamFramer::kFrame) {
      out.frames.emplace_back(r.frame.header, std::string(r.frame.payload));
      continue;
    }
    if (r.kind == StreamFramer::kError) {
      out.error = r.error;
      return out;
    }
    EXPECT_GT(r.missing, 0u);
    if (bytes.empty()) return out;
    absl::Span<char> room = framer.PrepareRead();
    EXPECT_GE(room.size(), std::min(r.missing, bytes.size()));
    const size_t n = std::min({room.size(), bytes.size(), max_commit});
    std::memcpy(room.data(), bytes.data(), n);
    framer.CommitRead(n);
    bytes.remove_prefix(n);
    ++out.commits;
  }
}

TEST(StreamFramerTest, SeveralSmallFramesFromOneRead) {
  std::string wire;
  for (uint32_t i = 1; i <= 20; ++i) {
    absl::StrAppend(&wire, Wire(FrameType::kMessage, i, std::string(i * 3, 'a' + i % 26)));
  }
  StreamFramer framer(kDefaultMaxMessageSize);
  Fed fed = Feed(framer, wire, wire.size());
  ASSERT_TRUE(fed.error.ok()) << fed.error;
  EXPECT_EQ(fed.commits, 1);
  ASSERT_EQ(fed.frames.size(), 20u);
  for (uint32_t i = 1; i <= 20; ++i) {
    EXPECT_EQ(fed.frames[i - 1].first.call_id, i);
    EXPECT_EQ(fed.frames[i - 1].second, std::string(i * 3, 'a' + i % 26));
  }
}

TEST(StreamFramerTest, FrameSplitIntoSingleBytesIsReassembled) {
  std::string payload(1000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  const std::string wire = Wire(FrameType::kMessage, 9, payload) + Wire(FrameType::kPing, 0, "");
  StreamFramer framer(kDefaultMaxMessageSize);
  Fed fed = Feed(framer, wire, 1);
  ASSERT_TRUE(fed.error.ok()) << fed.error;
  ASSERT_EQ(fed.frames.size(), 2u);
  EXPECT_EQ(fed.frames[0].first.call_id, 9u);
  EXPECT_EQ(fed.frames[0].second, payload);
  EXPECT_EQ(fed.frames[1].first.type, FrameType::kPing);
  EXPECT_EQ(fed.frames[1].second, "");
}

TEST(StreamFramerTest, FramesAcrossBufferWrapAreIntact) {
  // Frames of awkward sizes fed in awkward chunks force compaction and partial headers.
  std::string wire;
  std::vector<std::string> payloads;
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string p(rng() % 5000, '\0');
    for (char& c : p) c = static_cast<char>(rng());
    payloads.push_back(p);
    absl::StrAppend(&wire, Wire(FrameType::kMessage, i + 1, p));
  }
  StreamFramer framer(kDefaultMaxMessageSize, /*chunk=*/8192);
  Fed fed = Feed(framer, wire, 3001);
  ASSERT_TRUE(fed.error.ok()) << fed.error;
  ASSERT_EQ(fed.frames.size(), payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    ASSERT_EQ(fed.frames[i].second, payloads[i]) << i;
  }
  EXPECT_EQ(framer.capacity(), 8192u);  // every frame fit the chunk: never grew
}

TEST(StreamFramerTest, LargeFrameGrowsBufferToExactlyTheFrame) {
  const std::string payload(300000, 'z');
  StreamFramer framer(kDefaultMaxMessageSize);
  Fed fed = Feed(framer, Wire(FrameType::kMessage, 1, payload), payload.size() + 100);
  ASSERT_TRUE(fed.error.ok()) << fed.error;
  ASSERT_EQ(fed.frames.size(), 1u);
  EXPECT_EQ(fed.frames[0].second, payload);
  EXPECT_EQ(framer.capacity(), kFrameHeaderSize + payload.size());
  // One read of a chunk for the header, one read straight into the grown buffer.
  EXPECT_EQ(fed.commits, 2);
}

TEST(StreamFramerTest, FrameOfExactlyTheLimitIsAcceptedAndOneMoreIsNot) {
  constexpr uint32_t kLimit = 100000;
  StreamFramer ok_framer(kLimit);
  Fed fed = Feed(ok_framer, Wire(FrameType::kMessage, 1, std::string(kLimit, 'q')), 1 << 20);
  ASSERT_TRUE(fed.error.ok()) << fed.error;
  ASSERT_EQ(fed.frames.size(), 1u);
  EXPECT_EQ(fed.frames[0].second.size(), kLimit);

  StreamFramer framer(kLimit);
  fed = Feed(framer, Wire(FrameType::kMessage, 1, std::string(kLimit + 1, 'q')), 1 << 20);
  EXPECT_EQ(fed.error.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_LE(framer.capacity(), StreamFramer::kDefaultChunk);
}

TEST(StreamFramerTest, FourGibibyteHeaderFailsWithoutAllocating) {
  FrameHeader h{FrameType::kMessage, 0, 1, 0xFFFFFFFFu};
  StreamFramer framer(kDefaultMaxMessageSize);
  Fed fed = Feed(framer, h.Serialize(), 16);
  EXPECT_EQ(fed.error.code(), absl::StatusCode::kResourceExhausted) << fed.error;
  EXPECT_LE(framer.capacity(), StreamFramer::kDefaultChunk);
  // Sticky: the stream has lost frame sync.
  StreamFramer::Result again = framer.Next();
  EXPECT_EQ(again.kind, StreamFramer::kError);
  EXPECT_EQ(again.error.code(), absl::StatusCode::kResourceExhausted);
}

TEST(StreamFramerTest, RandomBytesAreRejectedAndTheErrorSticks) {
  std::mt19937 rng(42);
  std::string junk(256, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  junk[0] = 'x';  // not the "FR" magic, whatever the seed gives
  StreamFramer framer(kDefaultMaxMessageSize);
  Fed fed = Feed(framer, junk, junk.size());
  EXPECT_EQ(fed.error.code(), absl::StatusCode::kInvalidArgument) << fed.error;
  EXPECT_TRUE(fed.frames.empty());
  EXPECT_EQ(framer.Next().error.code(), absl::StatusCode::kInvalidArgument);
}

TEST(StreamFramerTest, OtherWireVersionIsFailedPrecondition) {
  std::string wire = Wire(FrameType::kMessage, 1, "abc");
  wire[2] = 2;
  StreamFramer framer(kDefaultMaxMessageSize);
  Fed fed = Feed(framer, wire, wire.size());
  EXPECT_EQ(fed.error.code(), absl::StatusCode::kFailedPrecondition) << fed.error;
}

TEST(StreamFramerTest, ErrorAfterGoodFramesStillDeliversThem) {
  std::string wire = Wire(FrameType::kMessage, 1, "one") + Wire(FrameType::kMessage, 2, "two");
  std::string bad = Wire(FrameType::kMessage, 3, "three");
  bad[5] = 1;  // reserved byte
  wire += bad;
  StreamFramer framer(kDefaultMaxMessageSize);
  Fed fed = Feed(framer, wire, wire.size());
  ASSERT_EQ(fed.frames.size(), 2u);
  EXPECT_EQ(fed.frames[1].second, "two");
  EXPECT_EQ(fed.error.code(), absl::StatusCode::kInvalidArgument);
}

TEST(StreamFramerTest, MidFrameReportsAPartialFrame) {
  const std::string wire = Wire(FrameType::kMessage, 1, "hello");
  StreamFramer framer(kDefaultMaxMessageSize);
  EXPECT_FALSE(framer.mid_frame());
  Feed(framer, absl::string_view(wire).substr(0, 10), 10);
  EXPECT_TRUE(framer.mid_frame());
  Fed rest = Feed(framer, absl::string_view(wire).substr(10), 100);
  ASSERT_EQ(rest.frames.size(), 1u);
  EXPECT_EQ(rest.frames[0].second, "hello");
  EXPECT_EQ(framer.Next().kind, StreamFramer::kNeedMore);
  EXPECT_FALSE(framer.mid_frame());
}

}  // namespace
}  // namespace ferry
