// Writes the seed corpora of the fuzz targets in this directory (binary files, checked in
// under fuzz/corpus/<fuzzer>/). Regenerate after a wire-format change with
//   bazel run //fuzz:make_seeds -- "$PWD/fuzz/corpus"
// Existing files of the same names are overwritten; others (e.g. added crash reproducers)
// are left alone.
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/frame.h"
#include "tests/conformance/conformance.pb.h"
#include "transports/msgq/piece.h"
#include "transports/udp/udp_wire.h"

namespace ferry {
namespace {

std::string Header(FrameType type, uint8_t flags, uint32_t id, uint32_t len) {
  return FrameHeader{type, flags, id, len}.Serialize();
}
std::string Frame(FrameType type, uint8_t flags, uint32_t id, const std::string& payload) {
  return Header(type, flags, id, static_cast<uint32_t>(payload.size())) + payload;
}
std::string Hello() {
  std::string p;
  EncodeHello(HelloPayload{kDefaultMaxMessageSize}, &p);
  return p;
}
std::string CallStart(const std::string& method, int64_t budget, const Metadata& md = {}) {
  std::string p;
  EncodeCallStart(method, budget, md, &p);
  return p;
}
std::string CallEnd(absl::StatusCode code, const std::string& msg) {
  std::string p;
  EncodeCallEnd(absl::Status(code, msg), {{"k", "v"}}, &p);
  return p;
}
std::string GoAway() {
  std::string p;
  EncodeGoAway(GoAwayPayload{7, absl::StatusCode::kUnavailable, "bye"}, &p);
  return p;
}
std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + 7);
  return s;
}

std::string Echo(const std::string& payload) {
  conformance::EchoRequest r;
  r.set_payload(payload);
  return r.SerializeAsString();
}

// One server_dispatch record: type flags id len(2) payload.
std::string Record(FrameType type, uint8_t flags, uint8_t id, const std::string& payload) {
  std::string r;
  r += static_cast<char>(type);
  r += static_cast<char>(flags);
  r += static_cast<char>(id);
  r += static_cast<char>(payload.size() >> 8);
  r += static_cast<char>(payload.size() & 0xff);
  return r + payload;
}

constexpr char kEcho[] = "/ferry.conformance.Conformance/Echo";
constexpr char kSleep[] = "/ferry.conformance.Conformance/Sleep";
constexpr char kFail[] = "/ferry.conformance.Conformance/Fail";

void Write(const std::string& dir, const std::string& fuzzer, const std::string& name,
           const std::string& bytes) {
  const std::string d = absl::StrCat(dir, "/", fuzzer);
  ::mkdir(d.c_str(), 0755);
  std::ofstream(absl::StrCat(d, "/", name), std::ios::binary) << bytes;
}

void FrameHeaderSeeds(const std::string& dir) {
  const char* f = "frame_header_fuzzer";
  const char limit4m = 4;  // index of kDefaultMaxMessageSize in the fuzzer's limit table
  Write(dir, f, "hello", Frame(FrameType::kHello, 0, 0, "") + limit4m + Hello());
  Write(dir, f, "hello_ack", Header(FrameType::kHello, kFlagAck, 0, 4) + limit4m + Hello());
  Write(dir, f, "ping", Header(FrameType::kPing, 0, 0, 8) + limit4m + "12345678");
  Write(dir, f, "goaway", Header(FrameType::kGoAway, 0, 0, 15) + limit4m + GoAway());
  Write(dir, f, "call_start",
        Header(FrameType::kCallStart, 0, 1, 60) + limit4m +
            CallStart(kEcho, 1000000, {{"x-echo", "v"}, {"k-bin", std::string("\0\1", 2)}}));
  Write(dir, f, "message_eos", Header(FrameType::kMessage, kFlagEndOfStream, 9, 100) + '\3');
  const std::string with_message = CallStart(kEcho, 1000000) + Echo("hi");
  Write(dir, f, "call_start_with_message",
        Header(FrameType::kCallStart, kFlagWithMessage, 1,
               static_cast<uint32_t>(with_message.size())) +
            limit4m + with_message);
  Write(dir, f, "message_end_of_call", Header(FrameType::kMessage, kFlagEndOfCall, 9, 4) + '\3');
  Write(dir, f, "call_end",
        Header(FrameType::kCallEnd, 0, 3, 20) + limit4m +
            CallEnd(absl::StatusCode::kNotFound, "no key"));
  Write(dir, f, "cancel", Header(FrameType::kCancel, 0, 0xffffffffu, 0) + limit4m);
  Write(dir, f, "over_limit", Header(FrameType::kMessage, 0, 1, 0xffffffffu) + '\3');
  Write(dir, f, "truncated", Header(FrameType::kMessage, 0, 1, 1).substr(0, 9));
}

std::string Stream() {
  return Frame(FrameType::kHello, 0, 0, Hello()) +
         Frame(FrameType::kCallStart, 0, 1, CallStart(kEcho, -1)) +
         Frame(FrameType::kMessage, kFlagEndOfStream, 1, Echo("hi")) +
         Frame(FrameType::kMessage, 0, 3, Pattern(3000)) + Frame(FrameType::kHalfClose, 0, 3, "") +
         Frame(FrameType::kCallEnd, 0, 1, CallEnd(absl::StatusCode::kAborted, "x")) +
         Frame(FrameType::kCallStart, kFlagWithMessage, 5, CallStart(kEcho, -1) + Echo("one")) +
         Frame(FrameType::kMessage, kFlagEndOfCall, 5, Echo("one"));
}

void StreamFramerSeeds(const std::string& dir) {
  const char* f = "stream_framer_fuzzer";
  // config: chunk selector, limit selector (4096), piece-size seed (2 bytes)
  Write(dir, f, "frames_small_chunk", std::string("\x01\x03\x12\x34", 4) + Stream());
  Write(dir, f, "frames_big_chunk", std::string("\xff\x03\x00\x01", 4) + Stream());
  Write(dir, f, "large_frame",
        std::string("\x02\x04\x55\x66", 4) + Frame(FrameType::kMessage, 0, 5, Pattern(20000)) +
            Frame(FrameType::kPing, 0, 0, "abcdefgh"));
  Write(dir, f, "garbage_after_frames",
        std::string("\x07\x03\x77\x01", 4) + Stream() + "GET / HTTP/1.1\r\n\r\n");
  Write(dir, f, "over_limit",
        std::string("\x07\x02\x01\x01", 4) + Header(FrameType::kMessage, 0, 1, 101) +
            Pattern(101));
  Write(dir, f, "cut_mid_frame",
        std::string("\x03\x03\x09\x09", 4) + Frame(FrameType::kMessage, 0, 1, Pattern(500)) +
            Header(FrameType::kMessage, 0, 2, 400) + Pattern(100));
}

void ShmSeeds(const std::string& dir) {
  const char* f = "shm_reassembly_fuzzer";
  // config: ring selector, piece-size seed (2 bytes)
  Write(dir, f, "frames_4k_ring", std::string("\x00\x12\x34", 3) + Stream());
  Write(dir, f, "frames_odd_ring", std::string("\x01\x43\x21", 3) + Stream() + Stream());
  Write(dir, f, "frame_larger_than_ring",
        std::string("\x00\x00\x05", 3) + Frame(FrameType::kMessage, 0, 1, Pattern(9000)) +
            Frame(FrameType::kPing, 0, 0, "abcdefgh"));
  Write(dir, f, "wraps_16k_ring",
        std::string("\x02\x99\x01", 3) + Frame(FrameType::kMessage, 0, 1, Pattern(10000)) +
            Frame(FrameType::kMessage, 0, 2, Pattern(10000)));
  Write(dir, f, "garbage", std::string("\x00\x01\x01", 3) + Stream() + "GET / HTTP/1.1\r\n\r\n");
  Write(dir, f, "over_limit",
        std::string("\x01\x01\x01", 3) + Header(FrameType::kMessage, 0, 1, 200000));
}

void DispatchSeeds(const std::string& dir) {
  const char* f = "server_dispatch_fuzzer";
  const std::string hello = "\x01";
  Write(dir, f, "echo",
        hello + Record(FrameType::kCallStart, 0, 1, CallStart(kEcho, 5000000)) +
            Record(FrameType::kMessage, kFlagEndOfStream, 1, Echo("ping")));
  Write(dir, f, "echo_one_frame",
        std::string("\x03") + Record(FrameType::kCallStart, kFlagWithMessage, 1,
                       CallStart(kEcho, 5000000) + Echo("ping")));
  Write(dir, f, "echo_half_close",
        hello + Record(FrameType::kCallStart, 0, 3, CallStart(kEcho, -1, {{"x-echo", "m"}})) +
            Record(FrameType::kMessage, 0, 3, Echo(Pattern(300))) +
            Record(FrameType::kHalfClose, 0, 3, ""));
  conformance::SleepRequest sleep;
  sleep.set_ms(50);
  Write(dir, f, "sleep_cancel",
        hello + Record(FrameType::kCallStart, 0, 5, CallStart(kSleep, 1000000)) +
            Record(FrameType::kMessage, kFlagEndOfStream, 5, sleep.SerializeAsString()) +
            Record(FrameType::kCancel, 0, 5, ""));
  conformance::FailRequest fail;
  fail.set_code(5);
  fail.set_message("gone");
  Write(dir, f, "fail",
        hello + Record(FrameType::kCallStart, 0, 7, CallStart(kFail, -1)) +
            Record(FrameType::kMessage, kFlagEndOfStream, 7, fail.SerializeAsString()));
  Write(dir, f, "unknown_method",
        hello + Record(FrameType::kCallStart, 0, 2, CallStart("/no.Such/Method", -1)) +
            Record(FrameType::kMessage, kFlagEndOfStream, 2, ""));
  Write(dir, f, "two_calls_interleaved",
        hello + Record(FrameType::kCallStart, 0, 1, CallStart(kEcho, -1)) +
            Record(FrameType::kCallStart, 0, 2, CallStart(kEcho, -1)) +
            Record(FrameType::kMessage, kFlagEndOfStream, 2, Echo("two")) +
            Record(FrameType::kMessage, kFlagEndOfStream, 1, Echo("one")));
  Write(dir, f, "duplicate_call",
        hello + Record(FrameType::kCallStart, 0, 1, CallStart(kEcho, -1)) +
            Record(FrameType::kCallStart, 0, 1, CallStart(kEcho, -1)));
  Write(dir, f, "goaway_then_call",
        hello + Record(FrameType::kGoAway, 0, 0, GoAway()) +
            Record(FrameType::kCallStart, 0, 9, CallStart(kEcho, 0)));
  Write(dir, f, "no_hello", std::string("\x00", 1) + Record(FrameType::kPing, 0, 0, "12345678"));
  Write(dir, f, "bad_request",
        hello + Record(FrameType::kCallStart, 0, 4, CallStart(kEcho, -1)) +
            Record(FrameType::kMessage, kFlagEndOfStream, 4, "\x1a\x02\xff\xfe"));
}

// (u16 big-endian length, message) records, the input format of both FuzzPieces and
// FuzzReassembler.
std::string Records(const std::vector<std::string>& messages) {
  std::string out;
  for (const std::string& m : messages) {
    out += static_cast<char>(m.size() >> 8);
    out += static_cast<char>(m.size() & 0xff);
    out += m;
  }
  return out;
}

std::vector<std::string> Pieces(uint32_t conn, uint32_t* seq,
                                const std::vector<std::pair<FrameType, std::string>>& frames,
                                size_t max_message) {
  std::vector<OutFrame> out;
  for (const auto& [type, payload] : frames) {
    out.push_back(MakeFrame(type, 0, IsConnectionFrame(type) ? 0 : 1, payload));
  }
  msgq::Fragmenter f(out, max_message);
  std::vector<std::string> pieces;
  std::string buf(max_message, '\0');
  while (!f.done()) pieces.emplace_back(buf.data(), f.NextPiece(conn, seq, &buf[0]));
  return pieces;
}

void MsgqSeeds(const std::string& dir) {
  const char* f = "msgq_pieces_fuzzer";
  uint32_t seq = 0;
  Write(dir, f, "one_small_unit",
        Records(Pieces(7, &seq, {{FrameType::kHello, Hello()},
                                 {FrameType::kCallStart, CallStart(kEcho, -1)},
                                 {FrameType::kMessage, Echo("hi")}},
                       8192)));
  seq = 0;
  std::vector<std::string> big = Pieces(3, &seq, {{FrameType::kMessage, Pattern(20000)}}, 1024);
  std::vector<std::string> more = Pieces(3, &seq, {{FrameType::kPing, "12345678"}}, 1024);
  big.insert(big.end(), more.begin(), more.end());
  Write(dir, f, "unit_in_many_pieces", Records(big));
  seq = 0;
  std::vector<std::string> a = Pieces(1, &seq, {{FrameType::kMessage, Pattern(3000)}}, 512);
  uint32_t seq2 = 0;
  std::vector<std::string> b = Pieces(2, &seq2, {{FrameType::kMessage, Pattern(3000)}}, 512);
  std::vector<std::string> mixed;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i < a.size()) mixed.push_back(a[i]);
    if (i < b.size()) mixed.push_back(b[i]);
  }
  Write(dir, f, "two_connections_interleaved", Records(mixed));
  std::string control(msgq::kPieceHeaderSize + 64, '\0');
  const std::string goaway = Frame(FrameType::kGoAway, 0, 0, GoAway());
  msgq::PieceHeader h;
  h.kind = msgq::PieceKind::kControl;
  h.flags = msgq::kUnitEnd;
  h.conn = 9;
  h.length = static_cast<uint32_t>(goaway.size());
  control.resize(msgq::BuildPiece(h, goaway, &control[0]));
  Write(dir, f, "control_goaway", Records({control}));
}

std::string Datagram(uint64_t conn, uint32_t seq, uint32_t unit_len, uint32_t offset,
                     const std::string& bytes, uint8_t flags = 0) {
  udp::DatagramHeader h;
  h.kind = udp::DatagramKind::kData;
  h.flags = flags;
  h.conn_id = conn;
  h.seq = seq;
  h.call_id = 1;
  h.unit_len = unit_len;
  h.offset = offset;
  std::string d(udp::kDatagramHeaderSize, '\0');
  h.Serialize(&d[0]);
  return d + bytes;
}

void UdpSeeds(const std::string& dir) {
  const char* f = "udp_reassembly_fuzzer";
  const std::string unit = Frame(FrameType::kCallStart, 0, 1, CallStart(kEcho, -1)) +
                           Frame(FrameType::kMessage, kFlagEndOfStream, 1, Echo(Pattern(900)));
  const uint32_t len = static_cast<uint32_t>(unit.size());
  Write(dir, f, "one_fragment", Records({Datagram(5, 0, len, 0, unit, udp::kFlagRequest)}));
  std::vector<std::string> in_order, reversed;
  for (uint32_t off = 0; off < len; off += 256) {
    in_order.push_back(Datagram(5, 0, len, off, unit.substr(off, 256)));
  }
  reversed.assign(in_order.rbegin(), in_order.rend());
  Write(dir, f, "fragments_in_order", Records(in_order));
  Write(dir, f, "fragments_reversed", Records(reversed));
  std::vector<std::string> dup = in_order;
  dup.insert(dup.begin() + 1, in_order[0]);
  dup.push_back(Datagram(5, 1, len, 0, unit.substr(0, 256)));
  Write(dir, f, "duplicates_and_next_unit", Records(dup));
  Write(dir, f, "overlapping_lie",
        Records({Datagram(5, 0, len, 0, unit.substr(0, 300)),
                 Datagram(5, 0, len + 7, 200, unit.substr(200, 300))}));
}

}  // namespace
}  // namespace ferry

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus root, e.g. $PWD/fuzz/corpus>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  ::mkdir(dir.c_str(), 0755);
  ferry::FrameHeaderSeeds(dir);
  ferry::StreamFramerSeeds(dir);
  ferry::ShmSeeds(dir);
  ferry::DispatchSeeds(dir);
  ferry::MsgqSeeds(dir);
  ferry::UdpSeeds(dir);
  std::printf("seeds written under %s\n", dir.c_str());
  return 0;
}
