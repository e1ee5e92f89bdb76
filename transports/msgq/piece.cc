#include "transports/msgq/piece.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"

namespace ferry::msgq {

void PieceHeader::Serialize(char* out) const {
  out[0] = static_cast<char>(kPieceMagic);
  out[1] = static_cast<char>(kind);
  out[2] = static_cast<char>(flags);
  out[3] = 0;
  absl::big_endian::Store32(out + 4, conn);
  absl::big_endian::Store32(out + 8, seq);
  absl::big_endian::Store32(out + 12, length);
}

absl::StatusOr<PieceView> ParsePiece(absl::string_view m) {
  if (m.size() < kPieceHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated queue message: ", m.size(), " bytes, a piece header is 16"));
  }
  const auto* u = reinterpret_cast<const unsigned char*>(m.data());
  if (u[0] != kPieceMagic) {
    return absl::InvalidArgumentError(absl::StrCat("queue message with bad magic 0x",
                                                   absl::Hex(u[0]), " (not a Ferry piece)"));
  }
  if (u[1] == 0 || u[1] > kMaxPieceKind) {
    return absl::InvalidArgumentError(absl::StrCat("piece of unknown kind ", u[1]));
  }
  if ((u[2] & ~kUnitEnd) != 0 || u[3] != 0) {
    return absl::InvalidArgumentError("piece with unknown flags or non-zero reserved byte");
  }
  PieceView p;
  p.header.kind = static_cast<PieceKind>(u[1]);
  p.header.flags = u[2];
  p.header.conn = absl::big_endian::Load32(m.data() + 4);
  p.header.seq = absl::big_endian::Load32(m.data() + 8);
  p.header.length = absl::big_endian::Load32(m.data() + 12);
  if (p.header.length != m.size() - kPieceHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat("piece announces ", p.header.length,
                                                   " body bytes but carries ",
                                                   m.size() - kPieceHeaderSize));
  }
  p.body = m.substr(kPieceHeaderSize);
  return p;
}

size_t BuildPiece(PieceHeader h, absl::string_view body, char* out) {
  h.length = static_cast<uint32_t>(body.size());
  h.Serialize(out);
  if (!body.empty()) std::memcpy(out + kPieceHeaderSize, body.data(), body.size());
  return kPieceHeaderSize + body.size();
}

// ---- Fragmenter -------------------------------------------------------------------------

Fragmenter::Fragmenter(absl::Span<const OutFrame> frames, size_t max_message)
    : frames_(frames), body_max_(max_message - kPieceHeaderSize) {
  for (const OutFrame& f : frames) total_ += kFrameHeaderSize + f.payload.size();
  done_ = frames.empty();
}

uint64_t Fragmenter::piece_count() const {
  return total_ == 0 ? 0 : (total_ + body_max_ - 1) / body_max_;
}

size_t Fragmenter::NextPiece(uint32_t conn, uint32_t* seq, char* out) {
  char* body = out + kPieceHeaderSize;
  size_t n = 0;
  while (n < body_max_ && frame_ < frames_.size()) {
    const OutFrame& f = frames_[frame_];
    const size_t frame_size = kFrameHeaderSize + f.payload.size();
    if (offset_ < kFrameHeaderSize) {
      char header[kFrameHeaderSize];
      f.header.Serialize(header);
      const size_t take = std::min(kFrameHeaderSize - offset_, body_max_ - n);
      std::memcpy(body + n, header + offset_, take);
      n += take;
      offset_ += take;
      continue;
    }
    const size_t at = offset_ - kFrameHeaderSize;
    const size_t take = std::min(f.payload.size() - at, body_max_ - n);
    if (take > 0) std::memcpy(body + n, f.payload.data() + at, take);
    n += take;
    offset_ += take;
    if (offset_ == frame_size) {
      ++frame_;
      offset_ = 0;
    }
  }
  // Skip past a frame whose bytes are all out (an empty payload completes on its header).
  while (frame_ < frames_.size() && offset_ == kFrameHeaderSize + frames_[frame_].payload.size()) {
    ++frame_;
    offset_ = 0;
  }
  emitted_ += n;
  done_ = emitted_ == total_;
  PieceHeader h;
  h.kind = PieceKind::kData;
  h.flags = done_ ? kUnitEnd : 0;
  h.conn = conn;
  h.seq = (*seq)++;
  h.length = static_cast<uint32_t>(n);
  h.Serialize(out);
  return kPieceHeaderSize + n;
}

// ---- Assembler --------------------------------------------------------------------------

absl::Status Assembler::Feed(const PieceView& piece) {
  if (!error_.ok()) return error_;
  if (piece.header.kind != PieceKind::kData) {
    Fail(absl::InvalidArgumentError("not a data piece"));
    return error_;
  }
  if (piece.header.seq != next_seq_) {
    Fail(absl::InvalidArgumentError(absl::StrCat("data piece ", piece.header.seq,
                                                 " where piece ", next_seq_,
                                                 " was due (lost or reordered)")));
    return error_;
  }
  ++next_seq_;
  if (piece.body.empty() && (piece.header.flags & kUnitEnd) == 0) {
    Fail(absl::InvalidArgumentError("empty data piece that does not end a unit"));
    return error_;
  }
  // Drop the frame handed out last, then make room at the end.
  begin_ += consumed_;
  consumed_ = 0;
  if (begin_ == end_) begin_ = end_ = 0;
  const size_t n = piece.body.size();
  if (capacity_ - end_ < n) {
    const size_t avail = end_ - begin_;
    if (capacity_ - avail >= n && begin_ > 0) {
      std::memmove(buf_.get(), buf_.get() + begin_, avail);
    } else {
      // Bounded: Next() has parsed (and limit-checked) the header of any frame that spans
      // more than one piece before more is fed, so this never exceeds one frame + a piece.
      const size_t size = std::max({avail + n, capacity_ * 2, size_t{4096}});
      std::unique_ptr<char[]> bigger(new char[size]);
      if (avail > 0) std::memcpy(bigger.get(), buf_.get() + begin_, avail);
      buf_ = std::move(bigger);
      capacity_ = size;
    }
    begin_ = 0;
    end_ = avail;
  }
  if (n > 0) std::memcpy(buf_.get() + end_, piece.body.data(), n);
  end_ += n;
  unit_ended_ = (piece.header.flags & kUnitEnd) != 0;
  in_unit_ = !unit_ended_;
  return absl::OkStatus();
}

Assembler::Result Assembler::Next() {
  Result r;
  if (!error_.ok()) {
    r.kind = kError;
    r.error = error_;
    return r;
  }
  begin_ += consumed_;
  consumed_ = 0;
  const size_t avail = end_ - begin_;
  auto need_more = [&]() -> Result {
    if (unit_ended_ && avail > 0) {
      Fail(absl::InvalidArgumentError(
          absl::StrCat("a unit ended in the middle of a frame (", avail, " bytes left over)")));
      r.kind = kError;
      r.error = error_;
      return r;
    }
    if (unit_ended_) unit_ended_ = false;
    r.kind = kNeedMore;
    return r;
  };
  if (!have_header_) {
    if (avail < kFrameHeaderSize) return need_more();
    absl::StatusOr<FrameHeader> h =
        FrameHeader::Parse(absl::string_view(buf_.get() + begin_, kFrameHeaderSize), max_payload_);
    if (!h.ok()) {
      Fail(h.status());
      r.kind = kError;
      r.error = error_;
      return r;
    }
    header_ = *h;
    have_header_ = true;
  }
  const size_t total = kFrameHeaderSize + header_.payload_length;
  if (avail < total) return need_more();
  r.kind = kFrame;
  r.frame.header = header_;
  r.frame.payload = absl::string_view(buf_.get() + begin_ + kFrameHeaderSize, header_.payload_length);
  consumed_ = total;
  have_header_ = false;
  return r;
}

absl::StatusOr<std::vector<Frame>> ParseControlBody(absl::string_view body, uint32_t max_payload) {
  std::vector<Frame> frames;
  while (!body.empty()) {
    absl::StatusOr<FrameHeader> h = FrameHeader::Parse(body, max_payload);
    if (!h.ok()) return h.status();
    if (body.size() - kFrameHeaderSize < h->payload_length) {
      return absl::InvalidArgumentError("control piece ends in the middle of a frame");
    }
    frames.push_back(Frame{*h, body.substr(kFrameHeaderSize, h->payload_length)});
    body.remove_prefix(kFrameHeaderSize + h->payload_length);
  }
  if (frames.empty()) return absl::InvalidArgumentError("empty control piece");
  return frames;
}

bool IsUrgentFrame(const OutFrame& f) {
  return f.header.type == FrameType::kCancel || f.header.type == FrameType::kGoAway;
}

size_t FuzzPieces(absl::string_view bytes) {
  constexpr uint32_t kLimit = 64 << 10;
  std::map<uint32_t, std::unique_ptr<Assembler>> conns;
  size_t frames = 0;
  while (bytes.size() >= 2) {
    const size_t len = absl::big_endian::Load16(bytes.data());
    bytes.remove_prefix(2);
    const absl::string_view message = bytes.substr(0, len);
    bytes.remove_prefix(message.size());
    absl::StatusOr<PieceView> p = ParsePiece(message);
    if (!p.ok()) continue;
    if (p->header.kind == PieceKind::kControl) {
      absl::StatusOr<std::vector<Frame>> fs = ParseControlBody(p->body, kLimit);
      if (fs.ok()) frames += fs->size();
      continue;
    }
    if (p->header.kind != PieceKind::kData) continue;
    auto it = conns.find(p->header.conn);
    if (it == conns.end()) {
      if (conns.size() >= 8) continue;
      it = conns.emplace(p->header.conn, std::make_unique<Assembler>(kLimit)).first;
    }
    Assembler& a = *it->second;
    if (!a.Feed(*p).ok()) continue;
    for (;;) {
      Assembler::Result r = a.Next();
      if (r.kind != Assembler::kFrame) break;
      ++frames;
    }
  }
  return frames;
}

}  // namespace ferry::msgq
