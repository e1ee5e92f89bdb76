#include "transports/udp/udp_wire.h"

#include <algorithm>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"

namespace ferry::udp {

using absl::big_endian::Load16;
using absl::big_endian::Load32;
using absl::big_endian::Load64;
using absl::big_endian::Store16;
using absl::big_endian::Store32;
using absl::big_endian::Store64;

absl::StatusOr<DatagramHeader> DatagramHeader::Parse(absl::string_view bytes) {
  if (bytes.size() < kDatagramHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated datagram: ", bytes.size(), " bytes"));
  }
  const char* p = bytes.data();
  if (Load16(p) != kDatagramMagic) return absl::InvalidArgumentError("bad datagram magic");
  if (static_cast<uint8_t>(p[2]) != kDatagramVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("datagram version ", static_cast<int>(static_cast<uint8_t>(p[2]))));
  }
  const uint8_t kind = static_cast<uint8_t>(p[3]);
  if (kind == 0 || kind > kMaxDatagramKind) {
    return absl::InvalidArgumentError(absl::StrCat("bad datagram kind ", kind));
  }
  DatagramHeader h;
  h.kind = static_cast<DatagramKind>(kind);
  h.flags = static_cast<uint8_t>(p[4]);
  if ((h.flags & ~kKnownFlags) != 0) return absl::InvalidArgumentError("bad datagram flags");
  if (p[5] != 0 || p[6] != 0 || p[7] != 0) {
    return absl::InvalidArgumentError("reserved datagram bytes not zero");
  }
  h.conn_id = Load64(p + 8);
  if (h.conn_id == 0) return absl::InvalidArgumentError("connection id 0");
  h.ack = Load32(p + 16);
  h.seq = Load32(p + 20);
  h.call_id = Load32(p + 24);
  h.unit_len = Load32(p + 28);
  h.offset = Load32(p + 32);
  return h;
}

void DatagramHeader::Serialize(char* out) const {
  Store16(out, kDatagramMagic);
  out[2] = static_cast<char>(kDatagramVersion);
  out[3] = static_cast<char>(kind);
  out[4] = static_cast<char>(flags);
  out[5] = out[6] = out[7] = 0;
  Store64(out + 8, conn_id);
  Store32(out + 16, ack);
  Store32(out + 20, seq);
  Store32(out + 24, call_id);
  Store32(out + 28, unit_len);
  Store32(out + 32, offset);
}

std::string HandshakePayload::Encode() const {
  std::string s(kSize, '\0');
  Store32(&s[0], max_unit);
  Store32(&s[4], fragment);
  Store32(&s[8], window);
  Store32(&s[12], idle_timeout_ms);
  return s;
}

absl::StatusOr<HandshakePayload> HandshakePayload::Decode(absl::string_view bytes) {
  if (bytes.size() != kSize) return absl::InvalidArgumentError("bad handshake payload size");
  HandshakePayload h;
  h.max_unit = Load32(bytes.data());
  h.fragment = Load32(bytes.data() + 4);
  h.window = Load32(bytes.data() + 8);
  h.idle_timeout_ms = Load32(bytes.data() + 12);
  if (h.fragment < kMinFragment || h.fragment > kMaxFragment || h.window == 0 ||
      h.max_unit == 0) {
    return absl::InvalidArgumentError("handshake payload out of range");
  }
  return h;
}

std::string FragmentStatus::Encode() const {
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(bits.size(), kMaxBits));
  std::string s(8 + (n + 7) / 8, '\0');
  Store32(&s[0], have);
  Store32(&s[4], n);
  for (uint32_t i = 0; i < n; ++i) {
    if (bits[i]) s[8 + i / 8] = static_cast<char>(s[8 + i / 8] | (1 << (i % 8)));
  }
  return s;
}

absl::StatusOr<FragmentStatus> FragmentStatus::Decode(absl::string_view bytes) {
  if (bytes.size() < 8) return absl::InvalidArgumentError("truncated fragment status");
  FragmentStatus f;
  f.have = Load32(bytes.data());
  const uint32_t n = Load32(bytes.data() + 4);
  if (n > kMaxBits || bytes.size() != 8 + (n + 7) / 8) {
    return absl::InvalidArgumentError("bad fragment status length");
  }
  f.bits.resize(n);
  for (uint32_t i = 0; i < n; ++i) f.bits[i] = (bytes[8 + i / 8] >> (i % 8)) & 1;
  return f;
}

// ---- Reassembler -------------------------------------------------------------------------

Reassembler::~Reassembler() { Release(bytes_); }

void Reassembler::Release(size_t n) {
  bytes_ -= n;
  if (limits_.global != nullptr && n > 0) {
    limits_.global->fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
  }
}

Reassembler::Outcome Reassembler::Add(uint32_t seq, uint32_t unit_len, uint32_t offset,
                                      absl::string_view bytes) {
  if (seq < next_) return Outcome::kDuplicate;
  if (seq - next_ >= limits_.max_ahead) return Refuse("unit too far ahead");
  if (unit_len == 0) return Refuse("empty unit");
  if (unit_len > limits_.max_unit) return Refuse("unit above the size limit");
  const uint32_t f = limits_.fragment;
  if (offset % f != 0 || offset >= unit_len) return Refuse("bad fragment offset");
  const uint32_t index = offset / f;
  const uint32_t expect = std::min<uint32_t>(f, unit_len - offset);
  if (bytes.size() != expect) return Refuse("bad fragment length");

  auto it = units_.find(seq);
  if (it == units_.end()) {
    if (bytes_ + unit_len > limits_.max_bytes) return Refuse("peer reassembly budget full");
    if (limits_.global != nullptr) {
      const int64_t now =
          limits_.global->fetch_add(unit_len, std::memory_order_relaxed) + unit_len;
      if (now > limits_.global_max) {
        limits_.global->fetch_sub(unit_len, std::memory_order_relaxed);
        return Refuse("process reassembly budget full");
      }
    }
    bytes_ += unit_len;
    Partial p;
    p.count = FragmentCount(unit_len, f);
    p.missing = p.count;
    p.got.assign(p.count, false);
    p.data.resize(unit_len);
    it = units_.emplace(seq, std::move(p)).first;
  }
  Partial& p = it->second;
  if (p.data.size() != unit_len) return Refuse("unit length differs between fragments");
  if (p.missing == 0 || p.got[index]) return Outcome::kDuplicate;
  bytes.copy(&p.data[offset], bytes.size());
  p.got[index] = true;
  --p.missing;
  if (p.missing == 0) {
    while (true) {
      auto n = units_.find(next_);
      if (n == units_.end() || n->second.missing != 0) break;
      ++next_;
    }
  }
  return Outcome::kAdded;
}

bool Reassembler::TakeWhole(uint32_t seq, uint32_t unit_len, uint32_t offset,
                            absl::string_view bytes, std::string* out) {
  if (seq != next_ || popped_ != next_ || !units_.empty() || offset != 0 || unit_len == 0 ||
      unit_len != bytes.size() || unit_len > limits_.max_unit || unit_len > limits_.fragment) {
    return false;
  }
  out->assign(bytes.data(), bytes.size());
  ++next_;
  ++popped_;
  return true;
}

bool Reassembler::Complete(uint32_t seq) const {
  if (seq < next_) return true;
  auto it = units_.find(seq);
  return it != units_.end() && it->second.missing == 0;
}

bool Reassembler::PopReady(std::string* out) {
  if (popped_ >= next_) return false;
  auto it = units_.find(popped_);
  // Invariant: every seq in [popped_, next_) is present and complete.
  if (it == units_.end()) return false;
  out->swap(it->second.data);
  Release(out->size());
  units_.erase(it);
  ++popped_;
  return true;
}

FragmentStatus Reassembler::Status(uint32_t seq) const {
  FragmentStatus s;
  auto it = units_.find(seq);
  if (seq < next_ || (it != units_.end() && it->second.missing == 0)) {
    s.have = FragmentStatus::kAllFragments;
    return s;
  }
  if (it == units_.end()) return s;
  const Partial& p = it->second;
  uint32_t have = 0;
  while (have < p.count && p.got[have]) ++have;
  s.have = have;
  const uint32_t n = std::min<uint32_t>(FragmentStatus::kMaxBits,
                                        p.count > have + 1 ? p.count - have - 1 : 0);
  s.bits.resize(n);
  for (uint32_t i = 0; i < n; ++i) s.bits[i] = p.got[have + 1 + i];
  return s;
}

bool Reassembler::FirstIncomplete(uint32_t* seq) const {
  for (auto it = units_.lower_bound(next_); it != units_.end(); ++it) {
    if (it->second.missing != 0) {
      *seq = it->first;
      return true;
    }
  }
  return false;
}

size_t FuzzReassembler(const uint8_t* data, size_t size) {
  std::atomic<int64_t> global{0};
  Reassembler::Limits limits;
  limits.fragment = 64;
  limits.max_unit = 4096;
  limits.max_bytes = 16384;
  limits.max_ahead = 16;
  limits.global = &global;
  limits.global_max = 12288;
  size_t completed = 0;
  {
    Reassembler r(limits);
    absl::string_view in(reinterpret_cast<const char*>(data), size);
    std::string unit;
    // Each record: u16 length, then that many bytes of datagram.
    while (in.size() >= 2) {
      const size_t n = std::min<size_t>(Load16(in.data()), in.size() - 2);
      absl::string_view dgram = in.substr(2, n);
      in.remove_prefix(2 + n);
      absl::StatusOr<DatagramHeader> h = DatagramHeader::Parse(dgram);
      if (!h.ok()) continue;
      dgram.remove_prefix(kDatagramHeaderSize);
      if (h->kind == DatagramKind::kAck || h->kind == DatagramKind::kProbe) {
        (void)FragmentStatus::Decode(dgram);
        continue;
      }
      if (h->kind != DatagramKind::kData) continue;
      const uint32_t before = r.next();
      r.Add(h->seq, h->unit_len, h->offset, dgram);
      if (r.next() < before) __builtin_trap();
      (void)r.Status(h->seq);
      while (r.PopReady(&unit)) ++completed;
      if (r.bytes_held() > limits.max_bytes) __builtin_trap();
      if (global.load() > limits.global_max) __builtin_trap();
    }
  }
  if (global.load() != 0) __builtin_trap();  // everything released
  return completed;
}

}  // namespace ferry::udp
