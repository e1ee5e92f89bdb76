#include "transports/udp/udp_wire.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/base/internal/endian.h"
#include "gtest/gtest.h"

namespace ferry::udp {
namespace {

std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

Reassembler::Limits Small() {
  Reassembler::Limits l;
  l.fragment = 100;
  l.max_unit = 10000;
  l.max_bytes = 30000;
  l.max_ahead = 8;
  return l;
}

void AddUnit(Reassembler& r, uint32_t seq, const std::string& unit, uint32_t f,
             std::vector<uint32_t> order = {}) {
  const uint32_t n = FragmentCount(static_cast<uint32_t>(unit.size()), f);
  if (order.empty()) {
    for (uint32_t i = 0; i < n; ++i) order.push_back(i);
  }
  for (uint32_t i : order) {
    const uint32_t off = i * f;
    EXPECT_NE(r.Add(seq, unit.size(), off, absl::string_view(unit).substr(off, f)),
              Reassembler::Outcome::kRefused)
        << r.last_refusal();
  }
}

TEST(DatagramHeader, RoundTripsAndRejectsGarbage) {
  DatagramHeader h;
  h.kind = DatagramKind::kData;
  h.flags = kFlagAckNow | kFlagReply;
  h.conn_id = 0x0123456789abcdefull;
  h.ack = 7;
  h.seq = 9;
  h.call_id = 11;
  h.unit_len = 123456;
  h.offset = 1400;
  char buf[kDatagramHeaderSize];
  h.Serialize(buf);
  absl::StatusOr<DatagramHeader> back = DatagramHeader::Parse(absl::string_view(buf, sizeof(buf)));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->conn_id, h.conn_id);
  EXPECT_EQ(back->flags, h.flags);
  EXPECT_EQ(back->unit_len, h.unit_len);
  EXPECT_EQ(back->offset, h.offset);
  EXPECT_EQ(DatagramHeader::Parse(absl::string_view(buf, 20)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string bad(buf, sizeof(buf));
  bad[2] = 2;
  EXPECT_EQ(DatagramHeader::Parse(bad).status().code(), absl::StatusCode::kFailedPrecondition);
  bad = std::string(buf, sizeof(buf));
  bad[3] = 99;
  EXPECT_EQ(DatagramHeader::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = std::string(buf, sizeof(buf));
  bad[4] = static_cast<char>(0x80);
  EXPECT_EQ(DatagramHeader::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = std::string(buf, sizeof(buf));
  std::fill(bad.begin() + 8, bad.begin() + 16, '\0');
  EXPECT_EQ(DatagramHeader::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FragmentStatus, RoundTrips) {
  FragmentStatus s;
  s.have = 5;
  s.bits = {true, false, true, true, false, false, false, false, true};
  absl::StatusOr<FragmentStatus> back = FragmentStatus::Decode(s.Encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->have, 5u);
  EXPECT_EQ(back->bits, s.bits);
  EXPECT_FALSE(FragmentStatus::Decode("abc").ok());
  std::string lying = s.Encode();
  absl::big_endian::Store32(&lying[4], 5000);
  EXPECT_FALSE(FragmentStatus::Decode(lying).ok());
}

TEST(Reassembler, InOrderUnitsOfEverySize) {
  Reassembler r(Small());
  std::string out;
  uint32_t seq = 0;
  for (size_t size : {1, 99, 100, 101, 250, 9999, 10000}) {
    const std::string unit = Bytes(size, static_cast<uint32_t>(size));
    AddUnit(r, seq, unit, 100);
    ASSERT_TRUE(r.PopReady(&out)) << size;
    EXPECT_EQ(out, unit);
    EXPECT_FALSE(r.PopReady(&out));
    ++seq;
  }
  EXPECT_EQ(r.next(), seq);
  EXPECT_EQ(r.bytes_held(), 0u);
}

TEST(Reassembler, ShuffledDuplicatedFragmentsAndUnitsComeOutInOrder) {
  Reassembler::Limits l = Small();
  l.max_bytes = 1 << 20;
  Reassembler r(l);
  std::mt19937 rng(42);
  std::vector<std::string> units;
  struct Frag {
    uint32_t seq, off;
  };
  std::vector<Frag> frags;
  for (uint32_t s = 0; s < 8; ++s) {
    units.push_back(Bytes(50 + s * 700, s));
    for (uint32_t off = 0; off < units[s].size(); off += 100) {
      frags.push_back({s, off});
      if (rng() % 3 == 0) frags.push_back({s, off});  // duplicates
    }
  }
  std::shuffle(frags.begin(), frags.end(), rng);
  std::string out;
  uint32_t popped = 0;
  for (const Frag& f : frags) {
    r.Add(f.seq, units[f.seq].size(), f.off, absl::string_view(units[f.seq]).substr(f.off, 100));
    while (r.PopReady(&out)) {
      ASSERT_LT(popped, units.size());
      EXPECT_EQ(out, units[popped]) << "unit " << popped;
      ++popped;
    }
  }
  EXPECT_EQ(popped, units.size());
  // Everything again: all duplicates now.
  for (const Frag& f : frags) {
    EXPECT_EQ(r.Add(f.seq, units[f.seq].size(), f.off,
                    absl::string_view(units[f.seq]).substr(f.off, 100)),
              Reassembler::Outcome::kDuplicate);
  }
  EXPECT_EQ(r.bytes_held(), 0u);
}

TEST(Reassembler, StatusReportsHolesForSelectiveRepair) {
  Reassembler r(Small());
  const std::string unit = Bytes(1000, 1);  // 10 fragments
  AddUnit(r, 0, unit, 100, {0, 1, 2, 4, 7});
  FragmentStatus s = r.Status(0);
  EXPECT_EQ(s.have, 3u);
  ASSERT_EQ(s.bits.size(), 6u);  // fragments 4..9
  EXPECT_EQ(s.bits, (std::vector<bool>{true, false, false, true, false, false}));
  uint32_t first;
  ASSERT_TRUE(r.FirstIncomplete(&first));
  EXPECT_EQ(first, 0u);
  AddUnit(r, 0, unit, 100, {3, 5, 6, 8, 9});
  EXPECT_EQ(r.Status(0).have, FragmentStatus::kAllFragments);
  EXPECT_FALSE(r.FirstIncomplete(&first));
}

TEST(Reassembler, RefusesWhatBreaksTheLimitsBeforeAllocating) {
  std::atomic<int64_t> global{0};
  Reassembler::Limits l = Small();
  l.global = &global;
  l.global_max = 25000;
  Reassembler r(l);
  using O = Reassembler::Outcome;
  EXPECT_EQ(r.Add(0, 10001, 0, Bytes(100, 0)), O::kRefused);  // unit too large
  EXPECT_EQ(r.Add(0, 0, 0, ""), O::kRefused);                 // empty unit
  EXPECT_EQ(r.Add(0, 1000, 50, Bytes(100, 0)), O::kRefused);  // misaligned
  EXPECT_EQ(r.Add(0, 1000, 1000, ""), O::kRefused);           // offset past the end
  EXPECT_EQ(r.Add(0, 1000, 0, Bytes(99, 0)), O::kRefused);    // wrong length
  EXPECT_EQ(r.Add(0, 1050, 1000, Bytes(49, 0)), O::kRefused); // wrong last length
  EXPECT_EQ(r.Add(8, 1000, 0, Bytes(100, 0)), O::kRefused);   // too far ahead
  EXPECT_EQ(r.bytes_held(), 0u);
  EXPECT_EQ(global.load(), 0);
  // Budget: 10000 + 10000 fit (20000), a third unit does not (peer budget 30000 would,
  // the process budget 25000 does not).
  EXPECT_EQ(r.Add(0, 10000, 0, Bytes(100, 0)), O::kAdded);
  EXPECT_EQ(r.Add(1, 10000, 0, Bytes(100, 0)), O::kAdded);
  EXPECT_EQ(r.Add(2, 10000, 0, Bytes(100, 0)), O::kRefused);
  EXPECT_EQ(std::string(r.last_refusal()), "process reassembly budget full");
  // A later fragment must agree on the unit length.
  EXPECT_EQ(r.Add(0, 9000, 100, Bytes(100, 0)), O::kRefused);
  EXPECT_EQ(global.load(), 20000);
}

TEST(Reassembler, TakeWholeOnlyForTheNextWholeUnitWithNothingPending) {
  Reassembler r(Small());
  std::string out;
  EXPECT_TRUE(r.TakeWhole(0, 50, 0, Bytes(50, 1), &out));
  EXPECT_EQ(out, Bytes(50, 1));
  EXPECT_EQ(r.next(), 1u);
  EXPECT_FALSE(r.TakeWhole(0, 50, 0, Bytes(50, 1), &out));   // already had it
  EXPECT_FALSE(r.TakeWhole(2, 50, 0, Bytes(50, 1), &out));   // not next
  EXPECT_FALSE(r.TakeWhole(1, 150, 0, Bytes(100, 1), &out)); // not whole
  EXPECT_EQ(r.Add(2, 50, 0, Bytes(50, 2)), Reassembler::Outcome::kAdded);
  EXPECT_FALSE(r.TakeWhole(1, 50, 0, Bytes(50, 3), &out));   // something pending
  EXPECT_EQ(r.Add(1, 50, 0, Bytes(50, 3)), Reassembler::Outcome::kAdded);
  ASSERT_TRUE(r.PopReady(&out));
  EXPECT_EQ(out, Bytes(50, 3));
  ASSERT_TRUE(r.PopReady(&out));
  EXPECT_EQ(out, Bytes(50, 2));
  EXPECT_TRUE(r.TakeWhole(3, 10, 0, Bytes(10, 4), &out));
}

TEST(Reassembler, GlobalBudgetIsReleasedOnDestruction) {
  std::atomic<int64_t> global{0};
  {
    Reassembler::Limits l = Small();
    l.global = &global;
    l.global_max = 1 << 20;
    Reassembler r(l);
    r.Add(3, 5000, 0, Bytes(100, 0));
    EXPECT_EQ(global.load(), 5000);
  }
  EXPECT_EQ(global.load(), 0);
}

// The fuzz entry point over random records and over mutations of valid traffic.
TEST(ReassemblerFuzz, SurvivesRandomAndMutatedInput) {
  std::mt19937 rng(20260401);
  for (int round = 0; round < 300; ++round) {
    std::string in;
    for (int d = 0; d < 40; ++d) {
      DatagramHeader h;
      h.kind = rng() % 4 == 0 ? static_cast<DatagramKind>(rng() % 9) : DatagramKind::kData;
      h.conn_id = rng() % 8 == 0 ? 0 : 1;
      h.seq = rng() % 20;
      h.unit_len = rng() % 3 == 0 ? rng() : rng() % 300;
      h.offset = (rng() % 6) * 64 + (rng() % 10 == 0 ? 1 : 0);
      std::string dgram(kDatagramHeaderSize, '\0');
      h.Serialize(&dgram[0]);
      dgram += Bytes(rng() % 3 == 0 ? rng() % 100 : 64, rng());
      for (int m = rng() % 3; m > 0; --m) dgram[rng() % dgram.size()] ^= 1 << (rng() % 8);
      std::string len(2, '\0');
      absl::big_endian::Store16(&len[0], static_cast<uint16_t>(dgram.size()));
      in += len + dgram;
    }
    FuzzReassembler(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    const std::string noise = Bytes(rng() % 2000, rng());
    FuzzReassembler(reinterpret_cast<const uint8_t*>(noise.data()), noise.size());
  }
}

}  // namespace
}  // namespace ferry::udp
