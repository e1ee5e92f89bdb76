#include "runtime/frame.h"

#include <cstring>
#include <limits>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

using absl::big_endian::Load16;
using absl::big_endian::Load32;
using absl::big_endian::Load64;
using absl::big_endian::Store16;
using absl::big_endian::Store32;
using absl::big_endian::Store64;

void Put16(std::string* out, uint16_t v) {
  char b[2];
  Store16(b, v);
  out->append(b, 2);
}
void Put32(std::string* out, uint32_t v) {
  char b[4];
  Store32(b, v);
  out->append(b, 4);
}
void Put64(std::string* out, uint64_t v) {
  char b[8];
  Store64(b, v);
  out->append(b, 8);
}

// Reads big-endian fields off the front of a payload, failing on truncation.
class Reader {
 public:
  Reader(absl::string_view data, absl::string_view what) : data_(data), what_(what) {}

  bool U16(uint16_t* v) {
    if (data_.size() < 2) return Fail();
    *v = Load16(data_.data());
    data_.remove_prefix(2);
    return true;
  }
  bool U32(uint32_t* v) {
    if (data_.size() < 4) return Fail();
    *v = Load32(data_.data());
    data_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    if (data_.size() < 8) return Fail();
    *v = Load64(data_.data());
    data_.remove_prefix(8);
    return true;
  }
  bool Bytes(size_t n, absl::string_view* v) {
    if (data_.size() < n) return Fail();
    *v = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  // Reads `count` metadata pairs: u16 key length, key, u32 value length, value.
  bool Pairs(std::vector<std::pair<absl::string_view, absl::string_view>>* out) {
    uint16_t count;
    if (!U16(&count)) return false;
    out->clear();
    for (uint16_t i = 0; i < count; ++i) {
      uint16_t klen;
      uint32_t vlen;
      absl::string_view k, v;
      if (!U16(&klen) || !Bytes(klen, &k) || !U32(&vlen) || !Bytes(vlen, &v)) return false;
      out->emplace_back(k, v);
    }
    return true;
  }

  // The bytes not read yet.
  absl::string_view rest() const { return data_; }

  // A read ran past the end of the bytes.
  bool truncated() const { return failed_; }
  absl::Status Finish() const {
    if (failed_) return absl::InvalidArgumentError(absl::StrCat(what_, " payload truncated"));
    if (!data_.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what_, " payload has ", data_.size(), " trailing bytes"));
    }
    return absl::OkStatus();
  }

 private:
  bool Fail() {
    failed_ = true;
    return false;
  }
  absl::string_view data_;
  absl::string_view what_;
  bool failed_ = false;
};

template <typename Pairs>
void PutPairs(std::string* out, const Pairs& pairs) {
  Put16(out, static_cast<uint16_t>(pairs.size()));
  for (const auto& [k, v] : pairs) {
    Put16(out, static_cast<uint16_t>(k.size()));
    out->append(k.data(), k.size());
    Put32(out, static_cast<uint32_t>(v.size()));
    out->append(v.data(), v.size());
  }
}

}  // namespace

absl::string_view FrameTypeName(FrameType t) {
  switch (t) {
    case FrameType::kHello: return "HELLO";
    case FrameType::kPing: return "PING";
    case FrameType::kGoAway: return "GOAWAY";
    case FrameType::kCallStart: return "CALL_START";
    case FrameType::kMessage: return "MESSAGE";
    case FrameType::kHalfClose: return "HALF_CLOSE";
    case FrameType::kCallEnd: return "CALL_END";
    case FrameType::kCancel: return "CANCEL";
  }
  return "UNKNOWN";
}

absl::StatusOr<FrameHeader> FrameHeader::Parse(absl::string_view bytes, uint32_t max_payload) {
  if (bytes.size() < kFrameHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame header truncated: ", bytes.size(), " of ", kFrameHeaderSize, " bytes"));
  }
  const char* p = bytes.data();
  const uint16_t magic = Load16(p);
  if (magic != kFrameMagic) {
    return absl::InvalidArgumentError(absl::StrCat("bad frame magic 0x", absl::Hex(magic)));
  }
  const uint8_t version = static_cast<uint8_t>(p[2]);
  if (version != kWireVersion) {
    return absl::FailedPreconditionError(absl::StrCat("unsupported wire version ", version,
                                                      " (this side speaks ", kWireVersion, ")"));
  }
  const uint8_t type = static_cast<uint8_t>(p[3]);
  if (type == 0 || type > kMaxFrameType) {
    return absl::InvalidArgumentError(absl::StrCat("unknown frame type ", type));
  }
  FrameHeader h;
  h.type = static_cast<FrameType>(type);
  h.flags = static_cast<uint8_t>(p[4]);
  if ((h.flags & ~AllowedFrameFlags(h.type)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("unknown flags 0x", absl::Hex(h.flags),
                                                   " on ", FrameTypeName(h.type), " frame"));
  }
  if (p[5] != 0 || p[6] != 0 || p[7] != 0) {
    return absl::InvalidArgumentError("reserved frame header bytes are not zero");
  }
  h.call_id = Load32(p + 8);
  if (IsConnectionFrame(h.type) != (h.call_id == 0)) {
    return absl::InvalidArgumentError(absl::StrCat(FrameTypeName(h.type),
                                                   " frame with call id ", h.call_id));
  }
  h.payload_length = Load32(p + 12);
  if (h.payload_length > max_payload) {
    return absl::ResourceExhaustedError(absl::StrCat(FrameTypeName(h.type), " frame of ",
                                                     h.payload_length, " bytes exceeds the limit of ",
                                                     max_payload));
  }
  return h;
}

void FrameHeader::Serialize(char* out) const {
  Store16(out, kFrameMagic);
  out[2] = static_cast<char>(kWireVersion);
  out[3] = static_cast<char>(type);
  out[4] = static_cast<char>(flags);
  out[5] = out[6] = out[7] = 0;
  Store32(out + 8, call_id);
  Store32(out + 12, payload_length);
}

std::string FrameHeader::Serialize() const {
  std::string s(kFrameHeaderSize, '\0');
  Serialize(&s[0]);
  return s;
}

absl::Status ValidateMetadata(const Metadata& md) {
  if (md.size() > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError("too many metadata entries");
  }
  for (const auto& [k, v] : md) {
    if (k.empty() || k.size() > std::numeric_limits<uint16_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat("metadata key of length ", k.size()));
    }
    for (char c : k) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.';
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            "metadata key \"", k, "\" has a character other than [a-z0-9-_.]"));
      }
    }
  }
  return absl::OkStatus();
}

void EncodeHello(const HelloPayload& p, std::string* out) {
  Put32(out, p.max_message_size);
  Put32(out, p.features);
}

absl::StatusOr<HelloPayload> DecodeHello(absl::string_view payload) {
  Reader r(payload, "HELLO");
  HelloPayload p;
  // The features field came later: a HELLO without it offers none.
  if (r.U32(&p.max_message_size) && !r.rest().empty()) r.U32(&p.features);
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  return p;
}

int64_t DeadlineToBudgetMicros(absl::Time deadline, absl::Time now) {
  if (deadline == absl::InfiniteFuture()) return kNoDeadline;
  if (deadline <= now) return 0;
  const absl::Duration left = deadline - now;
  // Saturate: anything beyond ~292k years is as good as no deadline.
  if (left >= absl::Microseconds(std::numeric_limits<int64_t>::max())) return kNoDeadline;
  // Round up so that a budget of a few nanoseconds is not sent as "already expired".
  return absl::ToInt64Microseconds(left + absl::Nanoseconds(999));
}

absl::Time BudgetMicrosToDeadline(int64_t budget_us, absl::Time now) {
  if (budget_us < 0) return absl::InfiniteFuture();
  return now + absl::Microseconds(budget_us);
}

void EncodeCallStart(absl::string_view method, int64_t budget_us, const Metadata& md,
                     std::string* out) {
  Put16(out, static_cast<uint16_t>(method.size()));
  out->append(method.data(), method.size());
  Put64(out, static_cast<uint64_t>(budget_us));
  PutPairs(out, md);
}

absl::string_view CallStartEncoder::Encode(absl::string_view method, int64_t budget_us,
                                           const Metadata& md) {
  if (method_end_ != 2 + method.size() || buf_.size() < method_end_ ||
      std::memcmp(buf_.data() + 2, method.data(), method.size()) != 0) {
    buf_.clear();
    Put16(&buf_, static_cast<uint16_t>(method.size()));
    buf_.append(method.data(), method.size());
    method_end_ = buf_.size();
  }
  if (md.empty()) {
    // Budget and a zero pair count written in place: no appends on the usual path.
    buf_.resize(method_end_ + 10);
    Store64(&buf_[method_end_], static_cast<uint64_t>(budget_us));
    Store16(&buf_[method_end_ + 8], 0);
    return buf_;
  }
  buf_.resize(method_end_);
  Put64(&buf_, static_cast<uint64_t>(budget_us));
  PutPairs(&buf_, md);
  return buf_;
}

namespace {
absl::Status DecodeCallStartFrom(Reader& r, CallStartView* view, absl::string_view* message) {
  uint16_t len = 0;
  uint64_t budget = 0;
  if (r.U16(&len) && r.Bytes(len, &view->method) && r.U64(&budget)) {
    view->budget_us = static_cast<int64_t>(budget);
    if (r.Pairs(&view->metadata) && message != nullptr) {
      *message = r.rest();
      r.Bytes(message->size(), message);
    }
  }
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (view->budget_us < kNoDeadline) {
    return absl::InvalidArgumentError(absl::StrCat("negative deadline budget ", view->budget_us));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status DecodeCallStart(absl::string_view payload, CallStartView* view) {
  Reader r(payload, "CALL_START");
  return DecodeCallStartFrom(r, view, nullptr);
}

absl::Status DecodeCallStartWithMessage(absl::string_view payload, CallStartView* view,
                                        absl::string_view* message) {
  Reader r(payload, "CALL_START");
  return DecodeCallStartFrom(r, view, message);
}

absl::Status DecodeCallStartPrefix(absl::string_view bytes, CallStartView* view,
                                   absl::string_view* message, bool* need_more) {
  Reader r(bytes, "CALL_START");
  absl::Status s = DecodeCallStartFrom(r, view, message);
  *need_more = !s.ok() && r.truncated();
  return s;
}

void EncodeCallEnd(const absl::Status& status, const Metadata& trailers, std::string* out) {
  Put32(out, static_cast<uint32_t>(status.code()));
  absl::string_view msg = status.message();
  // The whole payload must fit kMaxControlPayload; keep the message well inside it.
  if (msg.size() > kMaxControlPayload / 2) msg = msg.substr(0, kMaxControlPayload / 2);
  Put32(out, static_cast<uint32_t>(msg.size()));
  out->append(msg.data(), msg.size());
  PutPairs(out, trailers);
}

absl::string_view OkCallEndPayload() {
  static const std::string* const ok = [] {
    auto* s = new std::string;
    EncodeCallEnd(absl::OkStatus(), {}, s);
    return s;
  }();
  return *ok;
}

absl::Status DecodeCallEnd(absl::string_view payload, CallEndView* view) {
  if (payload == OkCallEndPayload()) {
    view->code = absl::StatusCode::kOk;
    view->message = {};
    view->trailers.clear();
    return absl::OkStatus();
  }
  Reader r(payload, "CALL_END");
  uint32_t code = 0, len = 0;
  if (r.U32(&code) && r.U32(&len) && r.Bytes(len, &view->message)) r.Pairs(&view->trailers);
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (code > static_cast<uint32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::InvalidArgumentError(absl::StrCat("CALL_END with unknown status code ", code));
  }
  view->code = static_cast<absl::StatusCode>(code);
  return absl::OkStatus();
}

void EncodeGoAway(const GoAwayPayload& p, std::string* out) {
  Put32(out, p.last_call_id);
  Put32(out, static_cast<uint32_t>(p.code));
  Put32(out, static_cast<uint32_t>(p.message.size()));
  out->append(p.message);
}

absl::StatusOr<GoAwayPayload> DecodeGoAway(absl::string_view payload) {
  Reader r(payload, "GOAWAY");
  GoAwayPayload p;
  uint32_t code = 0, len = 0;
  absl::string_view msg;
  if (r.U32(&p.last_call_id) && r.U32(&code)) r.U32(&len) && r.Bytes(len, &msg);
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (code > static_cast<uint32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::InvalidArgumentError(absl::StrCat("GOAWAY with unknown status code ", code));
  }
  p.code = static_cast<absl::StatusCode>(code);
  p.message = std::string(msg);
  return p;
}

}  // namespace ferry
