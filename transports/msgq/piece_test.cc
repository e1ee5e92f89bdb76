#include "transports/msgq/piece.h"

#include <random>
#include <string>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "transports/testing/pattern.h"

namespace ferry::msgq {
namespace {

std::string Piece(PieceKind kind, uint8_t flags, uint32_t conn, uint32_t seq,
                  absl::string_view body) {
  std::string m(kPieceHeaderSize + body.size(), '\0');
  PieceHeader h;
  h.kind = kind;
  h.flags = flags;
  h.conn = conn;
  h.seq = seq;
  BuildPiece(h, body, m.data());
  return m;
}

// The stream bytes of `frames`.
std::string Stream(const std::vector<OutFrame>& frames) {
  std::string s;
  for (const OutFrame& f : frames) s += f.header.Serialize() + std::string(f.payload);
  return s;
}

// Feeds `messages` and collects every frame (as type:call_id:payload) or the first error.
struct Outcome {
  std::vector<std::string> frames;
  absl::Status error;
};
Outcome Feed(Assembler& a, const std::vector<std::string>& messages) {
  Outcome out;
  for (const std::string& m : messages) {
    absl::StatusOr<PieceView> p = ParsePiece(m);
    if (!p.ok()) {
      out.error = p.status();
      return out;
    }
    absl::Status s = a.Feed(*p);
    if (!s.ok()) {
      out.error = s;
      return out;
    }
    for (;;) {
      Assembler::Result r = a.Next();
      if (r.kind == Assembler::kNeedMore) break;
      if (r.kind == Assembler::kError) {
        out.error = r.error;
        return out;
      }
      out.frames.push_back(absl::StrCat(static_cast<int>(r.frame.header.type), ":",
                                        r.frame.header.call_id, ":", r.frame.payload));
    }
  }
  return out;
}

std::vector<std::string> Expect(const std::vector<OutFrame>& frames) {
  std::vector<std::string> v;
  for (const OutFrame& f : frames) {
    v.push_back(absl::StrCat(static_cast<int>(f.header.type), ":", f.header.call_id, ":",
                             f.payload));
  }
  return v;
}

TEST(PieceTest, HeaderRoundTripsAndRejectsGarbage) {
  const std::string m = Piece(PieceKind::kData, kUnitEnd, 0xdeadbeef, 7, "body");
  absl::StatusOr<PieceView> p = ParsePiece(m);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->header.kind, PieceKind::kData);
  EXPECT_EQ(p->header.flags, kUnitEnd);
  EXPECT_EQ(p->header.conn, 0xdeadbeefu);
  EXPECT_EQ(p->header.seq, 7u);
  EXPECT_EQ(p->body, "body");
  // Every truncation is caught (the length field disagrees, or no header at all).
  for (size_t n = 0; n < m.size(); ++n) {
    EXPECT_EQ(ParsePiece(m.substr(0, n)).status().code(), absl::StatusCode::kInvalidArgument) << n;
  }
  std::string bad = m;
  bad[0] = 'X';
  EXPECT_EQ(ParsePiece(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = m;
  bad[1] = 0;
  EXPECT_EQ(ParsePiece(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad[1] = kMaxPieceKind + 1;
  EXPECT_EQ(ParsePiece(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = m;
  bad[2] = 0x02;
  EXPECT_EQ(ParsePiece(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = m;
  bad[3] = 1;
  EXPECT_EQ(ParsePiece(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePiece(m + "x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PieceTest, EverySplitPointOfAUnitReassembles) {
  const std::string a = PatternBytes(40, 1), b = PatternBytes(0, 2), c = PatternBytes(33, 3);
  const std::vector<OutFrame> frames = {MakeFrame(FrameType::kCallStart, 0, 5, a),
                                        MakeFrame(FrameType::kHalfClose, 0, 5, b),
                                        MakeFrame(FrameType::kMessage, kFlagEndOfStream, 5, c)};
  const std::string stream = Stream(frames);
  // Two pieces, cut at every point; and three pieces, cut at every pair of points.
  for (size_t i = 1; i < stream.size(); ++i) {
    Assembler asm_(1 << 20);
    Outcome o = Feed(asm_, {Piece(PieceKind::kData, 0, 1, 0, stream.substr(0, i)),
                           Piece(PieceKind::kData, kUnitEnd, 1, 1, stream.substr(i))});
    ASSERT_TRUE(o.error.ok()) << "cut at " << i << ": " << o.error;
    EXPECT_EQ(o.frames, Expect(frames)) << "cut at " << i;
    EXPECT_FALSE(asm_.mid_unit());
  }
  for (size_t i = 1; i < stream.size(); i += 3) {
    for (size_t j = i + 1; j < stream.size(); ++j) {
      Assembler asm_(1 << 20);
      Outcome o = Feed(asm_, {Piece(PieceKind::kData, 0, 1, 0, stream.substr(0, i)),
                             Piece(PieceKind::kData, 0, 1, 1, stream.substr(i, j - i)),
                             Piece(PieceKind::kData, kUnitEnd, 1, 2, stream.substr(j))});
      ASSERT_TRUE(o.error.ok()) << i << "," << j << ": " << o.error;
      EXPECT_EQ(o.frames, Expect(frames));
    }
  }
}

TEST(PieceTest, FragmenterAndAssemblerAgreeForEveryMessageSize) {
  const std::string big = PatternBytes(70000, 9), small = PatternBytes(3, 4);
  const std::vector<OutFrame> frames = {MakeFrame(FrameType::kMessage, 0, 1, big),
                                        MakeFrame(FrameType::kMessage, 0, 2, ""),
                                        MakeFrame(FrameType::kCallEnd, 0, 1, small)};
  for (size_t msg : {kMinMessageSize, size_t{97}, size_t{1000}, size_t{8192}, size_t{65536},
                     size_t{200000}}) {
    SCOPED_TRACE(msg);
    Fragmenter f(frames, msg);
    EXPECT_EQ(f.unit_bytes(), 3 * kFrameHeaderSize + big.size() + small.size());
    std::vector<std::string> pieces;
    std::vector<char> buf(msg);
    uint32_t seq = 10;  // carries on from earlier units
    while (!f.done()) {
      const size_t n = f.NextPiece(42, &seq, buf.data());
      ASSERT_LE(n, msg);
      pieces.emplace_back(buf.data(), n);
    }
    EXPECT_EQ(pieces.size(), f.piece_count());
    EXPECT_EQ(seq, 10 + pieces.size());
    // The assembler expects the sequence from 0: renumber as a fresh connection would.
    for (size_t i = 0; i < pieces.size(); ++i) absl::big_endian::Store32(&pieces[i][8], i);
    Assembler a(1 << 20);
    Outcome o = Feed(a, pieces);
    ASSERT_TRUE(o.error.ok()) << o.error;
    EXPECT_EQ(o.frames, Expect(frames));
  }
}

TEST(PieceTest, InterleavedConnectionsStayApart) {
  // Two connections' pieces alternate in one queue; each assembler sees only its own.
  const std::string pa = PatternBytes(500, 1), pb = PatternBytes(700, 2);
  const std::vector<OutFrame> fa = {MakeFrame(FrameType::kMessage, 0, 1, pa)};
  const std::vector<OutFrame> fb = {MakeFrame(FrameType::kMessage, 0, 9, pb),
                                    MakeFrame(FrameType::kCancel, 0, 9, "")};
  Fragmenter ga(fa, 100), gb(fb, 100);
  uint32_t sa = 0, sb = 0;
  std::vector<char> buf(100);
  Assembler a(1 << 20), b(1 << 20);
  std::vector<std::string> ma, mb;
  while (!ga.done() || !gb.done()) {
    if (!ga.done()) ma.emplace_back(buf.data(), ga.NextPiece(1, &sa, buf.data()));
    if (!gb.done()) mb.emplace_back(buf.data(), gb.NextPiece(2, &sb, buf.data()));
  }
  Outcome oa = Feed(a, ma), ob = Feed(b, mb);
  ASSERT_TRUE(oa.error.ok() && ob.error.ok()) << oa.error << ob.error;
  EXPECT_EQ(oa.frames, Expect(fa));
  EXPECT_EQ(ob.frames, Expect(fb));
  // Feeding one connection's pieces to the other breaks the sequence.
  Assembler c(1 << 20);
  EXPECT_EQ(Feed(c, {ma[0], mb[0]}).error.code(), absl::StatusCode::kInvalidArgument);
}

TEST(PieceTest, LostDuplicatedOrReorderedPiecesAreInvalidArgument) {
  const std::string payload = PatternBytes(300, 3);
  const std::string stream = Stream({MakeFrame(FrameType::kMessage, 0, 1, payload)});
  const std::string p0 = Piece(PieceKind::kData, 0, 1, 0, stream.substr(0, 100));
  const std::string p1 = Piece(PieceKind::kData, 0, 1, 1, stream.substr(100, 100));
  const std::string p2 = Piece(PieceKind::kData, kUnitEnd, 1, 2, stream.substr(200));
  for (const auto& seq : std::vector<std::vector<std::string>>{
           {p0, p2}, {p0, p0}, {p1, p0}, {p0, p2, p1}}) {
    Assembler a(1 << 20);
    EXPECT_EQ(Feed(a, seq).error.code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(PieceTest, AUnitEndingMidFrameIsInvalidArgument) {
  const std::string payload = PatternBytes(50, 3);
  const std::string stream = Stream({MakeFrame(FrameType::kMessage, 0, 1, payload)});
  for (size_t cut : {size_t{5}, size_t{16}, size_t{30}}) {
    Assembler a(1 << 20);
    Outcome o = Feed(a, {Piece(PieceKind::kData, kUnitEnd, 1, 0, stream.substr(0, cut))});
    EXPECT_EQ(o.error.code(), absl::StatusCode::kInvalidArgument) << cut;
    // Sticky.
    EXPECT_EQ(a.Next().kind, Assembler::kError);
  }
  // An empty piece that does not end a unit is garbage too.
  Assembler a(1 << 20);
  EXPECT_EQ(Feed(a, {Piece(PieceKind::kData, 0, 1, 0, "")}).error.code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PieceTest, GarbageFrameHeadersAreInvalidArgument) {
  Assembler a(1 << 20);
  Outcome o = Feed(a, {Piece(PieceKind::kData, kUnitEnd, 1, 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")});
  EXPECT_EQ(o.error.code(), absl::StatusCode::kInvalidArgument) << o.error;
  Assembler b(1 << 20);
  EXPECT_EQ(Feed(b, {Piece(PieceKind::kOpen, 0, 1, 0, "x")}).error.code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PieceTest, OversizeFrameIsResourceExhaustedBeforeItsPayloadIsBuffered) {
  Assembler a(1024);
  FrameHeader h{FrameType::kMessage, 0, 1, 0xFFFFFFF0u};
  Outcome o = Feed(a, {Piece(PieceKind::kData, 0, 1, 0, h.Serialize())});
  EXPECT_EQ(o.error.code(), absl::StatusCode::kResourceExhausted) << o.error;
  EXPECT_LT(a.buffered(), 64u);
  // Exactly at the limit is fine; one byte over is not.
  const std::string a1024(1024, 'a'), a1025(1025, 'a');
  const std::string at = Stream({MakeFrame(FrameType::kMessage, 0, 1, a1024)});
  Assembler b(1024);
  EXPECT_TRUE(Feed(b, {Piece(PieceKind::kData, kUnitEnd, 1, 0, at)}).error.ok());
  const std::string over = Stream({MakeFrame(FrameType::kMessage, 0, 1, a1025)});
  Assembler c(1024);
  EXPECT_EQ(Feed(c, {Piece(PieceKind::kData, kUnitEnd, 1, 0, over)}).error.code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(PieceTest, ControlBodiesHoldWholeFramesOnly) {
  const std::string body = Stream({MakeFrame(FrameType::kCancel, 0, 3, ""),
                                   MakeFrame(FrameType::kGoAway, 0, 0, "bye")});
  absl::StatusOr<std::vector<Frame>> f = ParseControlBody(body, 1 << 20);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].header.type, FrameType::kCancel);
  EXPECT_EQ((*f)[1].payload, "bye");
  for (size_t n = 0; n < body.size(); ++n) {
    if (n == kFrameHeaderSize) continue;  // the first frame alone is whole
    EXPECT_FALSE(ParseControlBody(body.substr(0, n), 1 << 20).ok()) << n;
  }
  EXPECT_TRUE(IsUrgentFrame(MakeFrame(FrameType::kCancel, 0, 1, "")));
  EXPECT_FALSE(IsUrgentFrame(MakeFrame(FrameType::kMessage, 0, 1, "")));
}

TEST(PieceTest, FuzzEntryPointSurvivesRandomBytesAndCountsValidFrames) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng() % 600, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    FuzzPieces(bytes);
  }
  // A valid encoding: two frames in one piece, length-prefixed.
  const std::string m = Piece(PieceKind::kData, kUnitEnd, 5, 0,
                              Stream({MakeFrame(FrameType::kMessage, 0, 1, "a"),
                                      MakeFrame(FrameType::kMessage, 0, 1, "b")}));
  std::string input(2, '\0');
  absl::big_endian::Store16(&input[0], static_cast<uint16_t>(m.size()));
  input += m;
  EXPECT_EQ(FuzzPieces(input), 2u);
}

}  // namespace
}  // namespace ferry::msgq
