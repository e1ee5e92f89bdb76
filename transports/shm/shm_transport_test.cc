#include "transports/shm/shm_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "runtime/frame.h"
#include "transports/shm/peer_process.h"
#include "transports/shm/shm_link.h"
#include "transports/shm/shm_segment.h"
#include "transports/shm/shm_setup.h"
#include "transports/testing/pattern.h"
#include "transports/testing/transport_conformance.h"
#include "transports/shm/test_util.h"

namespace ferry {
namespace {

using shm::testing::Token;

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

using shm::testing::FerryObjects;

// ---- The transport conformance suite, for every backing x wake-up -----------------------

std::vector<TransportConformanceParam> AllCombinations() {
  std::vector<TransportConformanceParam> params;
  for (const char* backing : {"memfd", "shm", "file"}) {
    for (const char* wake : {"futex", "spin", "eventfd", "signal"}) {
      TransportConformanceParam p;
      p.name = absl::StrCat(backing, "_", wake);
      p.make_transport = [] { return std::make_unique<ShmTransport>(); };
      p.listen_address = [backing, wake](const std::string& dir) {
        // The scratch directory's unique basename makes a unique rendezvous name.
        return absl::StrCat("shm://", dir.substr(dir.rfind('/') + 1), "?backing=", backing,
                            "&wake=", wake);
      };
      p.raw_skip_reason =
          "shm carries frames through a ring, not a socket byte stream "
          "(ShmTransportTest covers hostile bytes and indices)";
      params.push_back(std::move(p));
    }
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(Shm, TransportConformanceTest, testing::ValuesIn(AllCombinations()),
                         TransportConformanceName);

// ---- The mechanism ----------------------------------------------------------------------

class ShmTransportTest : public testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    name_ = absl::StrCat("shmtest-", ::getpid(), "-", Token(), "-", n++);
  }
  Address Addr(absl::string_view options = "") {
    return *Address::Parse(absl::StrCat("shm://", name_, options.empty() ? "" : "?", options));
  }

  // A connection over a fresh listener on Addr(options); members stay null after a
  // failure, which is reported.
  struct Pair {
    std::unique_ptr<Listener> listener;
    std::unique_ptr<Connection> client, server;
  };
  Pair Connected(absl::string_view options) {
    Pair p;
    auto listener = shm_.Listen(Addr(options), {});
    EXPECT_TRUE(listener.ok()) << listener.status();
    if (!listener.ok()) return p;
    auto client = shm_.Connect(*Address::Parse((*listener)->address()), {}, Soon());
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return p;
    auto server = (*listener)->Accept();
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return p;
    p.listener = *std::move(listener);
    p.client = *std::move(client);
    p.server = *std::move(server);
    return p;
  }

  ShmTransport shm_;
  std::string name_;
};

TEST_F(ShmTransportTest, NothingIsLeftInDevShmOrTmpDuringOrAfterAConnection) {
  ASSERT_EQ(FerryObjects(), std::vector<std::string>{});
  for (const char* backing : {"memfd", "shm", "file"}) {
    SCOPED_TRACE(backing);
    auto listener = shm_.Listen(Addr(absl::StrCat("backing=", backing)), {});
    ASSERT_TRUE(listener.ok()) << listener.status();
    auto client = shm_.Connect(*Address::Parse((*listener)->address()), {}, Soon());
    ASSERT_TRUE(client.ok()) << client.status();
    auto server = (*listener)->Accept();
    ASSERT_TRUE(server.ok()) << server.status();
    OutFrame f = MakeFrame(FrameType::kPing, 0, 0, "12345678");
    ASSERT_TRUE((*client)->Send({&f, 1}, Soon()).ok());
    ASSERT_TRUE((*server)->Receive(Soon()).ok());
    EXPECT_EQ(FerryObjects(), std::vector<std::string>{}) << "while connected";
    (*client)->Close();
    (*server)->Close();
    (*listener)->Close();
    EXPECT_EQ(FerryObjects(), std::vector<std::string>{}) << "after close";
  }
}

TEST_F(ShmTransportTest, SegmentsAreOwnerOnlyAndMemfdIsSealed) {
  absl::StatusOr<shm::SegmentLayout> layout = shm::SegmentLayout::ForCapacity(4096);
  ASSERT_TRUE(layout.ok());
  const mode_t old_umask = ::umask(0);  // the mode must not depend on the umask
  for (shm::Backing b : {shm::Backing::kMemfd, shm::Backing::kPosixShm, shm::Backing::kFile}) {
    SCOPED_TRACE(shm::BackingName(b));
    auto created = shm::Segment::Create(b, "/tmp", *layout);
    ASSERT_TRUE(created.ok()) << created.status();
    struct stat st;
    ASSERT_EQ(::fstat(created->second.get(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_GE(static_cast<uint64_t>(st.st_size), layout->size);
    if (b != shm::Backing::kMemfd) {
      EXPECT_EQ(st.st_nlink, 0u) << "the object still has a name";
    }
    if (b == shm::Backing::kMemfd) {
      const int seals = ::fcntl(created->second.get(), F_GET_SEALS);
      EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
      EXPECT_NE(::ftruncate(created->second.get(), 0), 0) << "a sealed memfd cannot shrink";
    }
  }
  ::umask(old_umask);
}

TEST_F(ShmTransportTest, AReceivedSegmentIsCheckedBeforeItIsTrusted) {
  absl::StatusOr<shm::SegmentLayout> layout = shm::SegmentLayout::ForCapacity(8192);
  ASSERT_TRUE(layout.ok());
  // Unsealed memfd: the sender could truncate it under us.
  UniqueFd unsealed(::memfd_create("t", MFD_CLOEXEC));
  ASSERT_EQ(::ftruncate(unsealed.get(), static_cast<off_t>(layout->size)), 0);
  auto m = shm::Segment::Map(unsealed.get(), shm::Backing::kMemfd, *layout);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
  EXPECT_TRUE(absl::StrContains(m.status().message(), "sealed")) << m.status();
  // Too small for the rings its hello announced.
  UniqueFd small(::memfd_create("t", MFD_CLOEXEC));
  ASSERT_EQ(::ftruncate(small.get(), 4096), 0);
  m = shm::Segment::Map(small.get(), shm::Backing::kPosixShm, *layout);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
  // Not a file at all.
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  m = shm::Segment::Map(r.get(), shm::Backing::kPosixShm, *layout);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
  // Right size, but never initialised as a segment (no magic).
  UniqueFd blank(::memfd_create("t", MFD_CLOEXEC));
  ASSERT_EQ(::ftruncate(blank.get(), static_cast<off_t>(layout->size)), 0);
  m = shm::Segment::Map(blank.get(), shm::Backing::kPosixShm, *layout);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
}

TEST_F(ShmTransportTest, BadAddressesAreInvalidArgument) {
  for (const char* bad :
       {"shm://a/b", "shm://with space", "shm://x?backing=tape", "shm://x?wake=smoke",
        "shm://x?ring=100", "shm://x?ring=2g", "shm://x?ring=lots", "shm://x?spin_us=-1",
        "shm://x?dir=relative", "shm://x?uids=root", "shm://x?signal=99", "shm://x?colour=blue"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<Address> a = Address::Parse(bad);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(shm_.Listen(*a, {}).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(shm_.Connect(*a, {}, Soon()).status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto listener = shm_.Listen(Addr("ring=64k&spin_us=5&uids=1,2"), {});
  EXPECT_TRUE(listener.ok()) << listener.status();
}

TEST_F(ShmTransportTest, ConnectToNothingIsUnavailable) {
  auto conn = shm_.Connect(Addr(), {}, Soon());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable) << conn.status();
}

TEST_F(ShmTransportTest, ABackingDirectoryThatDoesNotExistIsInvalidArgument) {
  auto listener = shm_.Listen(Addr(), {});
  ASSERT_TRUE(listener.ok());
  auto conn = shm_.Connect(Addr("backing=file&dir=/no/such/dir"), {}, Soon());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kInvalidArgument) << conn.status();
}

// Frames of every size class through a small ring of odd capacity: zero-copy views, frames
// that wrap (copied), frames larger than the ring (streamed), in random order.
TEST_F(ShmTransportTest, RandomFramesThroughAnOddSizedRing) {
  Pair p = Connected("ring=4099");
  ASSERT_NE(p.server, nullptr);
  std::mt19937 rng(7);
  std::vector<std::string> payloads;
  for (int i = 0; i < 400; ++i) {
    const size_t size = rng() % 5 == 0 ? rng() % 20000 : rng() % 500;
    payloads.push_back(PatternBytes(size, static_cast<uint32_t>(i)));
  }
  std::thread sender([&] {
    for (size_t i = 0; i < payloads.size(); ++i) {
      OutFrame f = MakeFrame(FrameType::kMessage, 0, static_cast<uint32_t>(i + 1), payloads[i]);
      ASSERT_TRUE(p.client->Send({&f, 1}, Soon()).ok());
    }
  });
  for (size_t i = 0; i < payloads.size(); ++i) {
    absl::StatusOr<Frame> f = p.server->Receive(Soon());
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ(f->header.call_id, i + 1);
    ASSERT_TRUE(f->payload == payloads[i]) << "frame " << i << " of " << payloads[i].size();
  }
  sender.join();
}

// SendMessage serializes straight into the ring: in place, in two pieces around the ring's
// end, or streamed when the frame is larger than the ring; every frame arrives as prefix +
// the message's wire form, in order.
TEST_F(ShmTransportTest, MessagesSerializedIntoAnOddSizedRing) {
  Pair p = Connected("ring=4099");
  ASSERT_NE(p.server, nullptr);
  std::mt19937 rng(11);
  std::vector<std::string> prefixes, values;
  for (int i = 0; i < 600; ++i) {
    prefixes.push_back(PatternBytes(rng() % 3 == 0 ? 0 : rng() % 60, static_cast<uint32_t>(i)));
    const size_t size = rng() % 6 == 0 ? rng() % 20000 : rng() % 700;
    values.push_back(PatternBytes(size, static_cast<uint32_t>(i + 1000)));
  }
  std::thread sender([&] {
    google::protobuf::BytesValue m;
    for (size_t i = 0; i < values.size(); ++i) {
      m.set_value(values[i]);
      const size_t size = m.ByteSizeLong();
      const FrameHeader h{FrameType::kMessage, 0, static_cast<uint32_t>(i + 1),
                          static_cast<uint32_t>(prefixes[i].size() + size)};
      absl::Status s = p.client->SendMessage(h, prefixes[i], m, size, Soon());
      ASSERT_TRUE(s.ok()) << s;
    }
  });
  google::protobuf::BytesValue expected;
  for (size_t i = 0; i < values.size(); ++i) {
    absl::StatusOr<Frame> f = p.server->Receive(Soon());
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ(f->header.call_id, i + 1);
    expected.set_value(values[i]);
    ASSERT_TRUE(f->payload == prefixes[i] + expected.SerializeAsString())
        << "frame " << i << " of " << values[i].size();
  }
  sender.join();
}

// A size that does not match the message (it changed after its size was taken) fails with
// INTERNAL and sends nothing when the frame fits the ring: the connection stays usable.
TEST_F(ShmTransportTest, AMessageOfTheWrongSizeSendsNothing) {
  Pair p = Connected("ring=4096");
  ASSERT_NE(p.server, nullptr);
  google::protobuf::BytesValue m;
  m.set_value(std::string(100, 'x'));
  const size_t size = m.ByteSizeLong();
  for (size_t wrong : {size - 10, size + 10}) {
    const FrameHeader h{FrameType::kMessage, 0, 1, static_cast<uint32_t>(wrong)};
    EXPECT_EQ(p.client->SendMessage(h, {}, m, wrong, Soon()).code(),
              absl::StatusCode::kInternal);
  }
  const FrameHeader bad{FrameType::kMessage, 0, 1, static_cast<uint32_t>(size + 1)};
  EXPECT_EQ(p.client->SendMessage(bad, {}, m, size, Soon()).code(),
            absl::StatusCode::kInvalidArgument);
  const FrameHeader h{FrameType::kMessage, 0, 2, static_cast<uint32_t>(size)};
  ASSERT_TRUE(p.client->SendMessage(h, {}, m, size, Soon()).ok());
  absl::StatusOr<Frame> f = p.server->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->header.call_id, 2u);
  EXPECT_EQ(f->payload, m.SerializeAsString());
}

// ReceiveStreaming hands out payloads that are not in the ring in one piece (larger than
// the ring, wrapped, or still arriving) for the caller to parse from the ring as they
// arrive. Every frame comes out right, whether it is parsed, left unparsed (skipped by the
// next Receive) or not a valid message (parse fails, the stream stays in step).
TEST_F(ShmTransportTest, StreamedPayloadsParseInPlaceAndStayInStep) {
  Pair p = Connected("ring=4099");
  ASSERT_NE(p.server, nullptr);
  std::mt19937 rng(13);
  std::vector<std::string> values;
  for (int i = 0; i < 300; ++i) {
    const size_t size = rng() % 3 == 0 ? rng() % 30000 : rng() % 3000;
    values.push_back(PatternBytes(size, static_cast<uint32_t>(i)));
  }
  // Frame i is a BytesValue, except every 7th: bytes that are not a valid message.
  const std::string garbage(5000, '\xff');
  std::thread sender([&] {
    google::protobuf::BytesValue m;
    for (size_t i = 0; i < values.size(); ++i) {
      const uint32_t id = static_cast<uint32_t>(i + 1);
      if (i % 7 == 3) {
        OutFrame f = MakeFrame(FrameType::kMessage, 0, id, garbage);
        ASSERT_TRUE(p.client->Send({&f, 1}, Soon()).ok());
        continue;
      }
      m.set_value(values[i]);
      const size_t size = m.ByteSizeLong();
      const FrameHeader h{FrameType::kMessage, 0, id, static_cast<uint32_t>(size)};
      ASSERT_TRUE(p.client->SendMessage(h, {}, m, size, Soon()).ok());
    }
  });
  google::protobuf::BytesValue got;
  int streamed = 0, skipped = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    absl::StatusOr<Frame> f = p.server->ReceiveStreaming(Soon(), 1000);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ(f->header.call_id, i + 1);
    const bool valid = i % 7 != 3;
    if (!f->streamed) {
      ASSERT_EQ(got.ParseFromArray(f->payload.data(), static_cast<int>(f->payload.size())),
                valid);
    } else {
      ++streamed;
      ASSERT_TRUE(f->payload.empty());
      ASSERT_GE(f->header.payload_length, 1000u);
      if (i % 5 == 0) {
        ++skipped;  // not parsed: the next Receive skips it
        continue;
      }
      bool parsed = true;
      ASSERT_TRUE(p.server->ParseStreamedPayload(&got, &parsed).ok());
      ASSERT_EQ(parsed, valid) << "frame " << i;
    }
    if (valid) {
      ASSERT_TRUE(got.value() == values[i]) << "frame " << i << " of " << values[i].size();
    }
  }
  sender.join();
  EXPECT_GT(streamed, 50);
  EXPECT_GT(skipped, 5);
  // A plain Receive never streams.
  const std::string big(20000, 'b');
  std::thread last([&] {
    OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, big);
    ASSERT_TRUE(p.client->Send({&f, 1}, Soon()).ok());
  });
  absl::StatusOr<Frame> f = p.server->Receive(Soon());
  last.join();
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->streamed);
  EXPECT_EQ(f->payload, big);
  EXPECT_EQ(p.server->StreamedPayload(), nullptr);
  bool parsed = true;
  EXPECT_EQ(p.server->ParseStreamedPayload(&got, &parsed).code(),
            absl::StatusCode::kFailedPrecondition);
}

// A sender that gives up in the middle of a streamed frame closes its connection: the
// parse fails with UNAVAILABLE, and so does every Receive after it.
TEST_F(ShmTransportTest, AStreamedPayloadCutOffByTheSenderIsUnavailable) {
  Pair p = Connected("ring=4096");
  ASSERT_NE(p.server, nullptr);
  google::protobuf::BytesValue m;
  m.set_value(std::string(20000, 'x'));
  const size_t size = m.ByteSizeLong();
  const FrameHeader h{FrameType::kMessage, 0, 1, static_cast<uint32_t>(size)};
  // Nobody reads yet: the ring fills, the deadline passes after part of the frame.
  const absl::Status sent =
      p.client->SendMessage(h, {}, m, size, absl::Now() + absl::Milliseconds(50));
  ASSERT_EQ(sent.code(), absl::StatusCode::kDeadlineExceeded) << sent;
  absl::StatusOr<Frame> f = p.server->ReceiveStreaming(Soon(), 1);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->streamed);
  bool parsed = true;
  const absl::Status s = p.server->ParseStreamedPayload(&m, &parsed);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_FALSE(parsed);
  EXPECT_EQ(p.server->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ShmTransportTest, AReceivedViewStaysIntactUntilTheNextReceive) {
  Pair p = Connected("ring=4096&wake=futex");
  ASSERT_NE(p.server, nullptr);
  const std::string first = PatternBytes(1000, 1);
  OutFrame f1 = MakeFrame(FrameType::kMessage, 0, 1, first);
  ASSERT_TRUE(p.client->Send({&f1, 1}, Soon()).ok());
  absl::StatusOr<Frame> got = p.server->Receive(Soon());
  ASSERT_TRUE(got.ok());
  const absl::string_view view = got->payload;
  // The sender now wants more room than the ring has while the view is held: it must
  // wait, not overwrite the bytes the view points at.
  const std::string second = PatternBytes(3500, 2);
  OutFrame f2 = MakeFrame(FrameType::kMessage, 0, 2, second);
  EXPECT_EQ(p.client->Send({&f2, 1}, absl::Now() + absl::Milliseconds(100)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(view == first) << "the view was overwritten while still valid";
  // Nothing was published by the failed Send, so the connection is still usable; once the
  // view is given back (next Receive), the frame fits.
  std::thread sender([&] { EXPECT_TRUE(p.client->Send({&f2, 1}, Soon()).ok()); });
  got = p.server->Receive(Soon());
  sender.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->payload == second);
}

// ---- Hostile peers ------------------------------------------------------------------------

class HostilePeerTest : public ShmTransportTest {
 protected:
  // A client made with the set-up layer directly, so the test can scribble on the rings.
  void Connect() {
    listener_ = *shm_.Listen(Addr("ring=8192"), {});
    shm::ShmOptions options;
    options.ring_capacity = 8192;
    absl::StatusOr<shm::Endpoint> ep = shm::ConnectEndpoint(name_, options, Soon());
    ASSERT_TRUE(ep.ok()) << ep.status();
    link_ = std::make_unique<shm::Link>(*std::move(ep));
    auto server = listener_->Accept();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void WriteRaw(absl::string_view bytes) {
    bool published = false;
    ASSERT_EQ(link_->Write(bytes.data(), bytes.size(), INT64_MAX, &published), shm::Link::Io::kOk);
    link_->Publish();
  }

  std::unique_ptr<Listener> listener_;
  std::unique_ptr<shm::Link> link_;
  std::unique_ptr<Connection> server_;
};

TEST_F(HostilePeerTest, GarbageBytesAreInvalidArgumentAndSticky) {
  Connect();
  WriteRaw("GET / HTTP/1.1\r\nHost: ferry\r\n\r\n");
  EXPECT_EQ(server_->Receive(Soon()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server_->Receive(Soon()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HostilePeerTest, AHugeLengthIsRefusedBeforeAnythingIsAllocated) {
  Connect();
  WriteRaw(FrameHeader{FrameType::kMessage, 0, 1, 0xffffffffu}.Serialize());
  EXPECT_EQ(server_->Receive(Soon()).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(HostilePeerTest, ImpossibleRingIndicesAreInvalidArgument) {
  Connect();
  // A tail far beyond what the ring can hold: reading it would run past the segment.
  link_->endpoint().segment.header()->requests.tail.value.store(uint64_t{1} << 40);
  EXPECT_EQ(server_->Receive(Soon()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server_->Receive(Soon()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HostilePeerTest, AHeadBeyondWhatWasSentBreaksTheSenderNotTheProcess) {
  Connect();
  link_->endpoint().segment.header()->replies.head.value.store(12345);
  // The server cannot tell how much room there is: it reports the peer as unusable.
  const std::string big(9000, 'x');  // more than the ring: Send has to look at the head
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, big);
  const absl::Status s = server_->Send({&f, 1}, Soon());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

// A peer that stops in the middle of a streamed frame without closing (stopped, stuck or
// hostile) does not hold the reader forever: after kStreamStallLimit the parse fails with
// UNAVAILABLE and the connection is unusable.
TEST_F(HostilePeerTest, APeerThatStallsMidFrameFailsTheStreamedParse) {
  Connect();
  google::protobuf::BytesValue m;
  m.set_value(std::string(5000, 'x'));
  const std::string wire = m.SerializeAsString();
  WriteRaw(FrameHeader{FrameType::kMessage, 0, 1, static_cast<uint32_t>(wire.size())}.Serialize());
  WriteRaw(wire.substr(0, 1000));
  absl::StatusOr<Frame> f = server_->ReceiveStreaming(Soon(), 1);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->streamed);
  const absl::Time start = absl::Now();
  bool parsed = true;
  const absl::Status s = server_->ParseStreamedPayload(&m, &parsed);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "in the middle of a frame")) << s;
  EXPECT_GE(absl::Now() - start, kStreamStallLimit);
  EXPECT_FALSE(parsed);
  EXPECT_EQ(server_->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(HostilePeerTest, AMalformedHelloIsRefusedWithAReasonAndAcceptKeepsServing) {
  listener_ = *shm_.Listen(Addr(), {});
  std::thread acceptor([&] {
    auto conn = listener_->Accept();
    ASSERT_TRUE(conn.ok()) << conn.status();
    EXPECT_TRUE(absl::StrContains((*conn)->PeerDescription(), "wake=futex"));
  });
  UniqueFd raw(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string path = "ferry-shm/" + name_;
  std::memcpy(sa.sun_path + 1, path.data(), path.size());
  ASSERT_EQ(::connect(raw.get(), reinterpret_cast<sockaddr*>(&sa),
                      offsetof(sockaddr_un, sun_path) + 1 + path.size()),
            0);
  ASSERT_EQ(::send(raw.get(), "hello?", 6, 0), 6);
  ASSERT_EQ(WaitFd(raw.get(), POLLIN, Soon()), absl::OkStatus());
  const absl::Status refusal = shm::ReadRefusal(raw.get());
  EXPECT_EQ(refusal.code(), absl::StatusCode::kInvalidArgument) << refusal;
  EXPECT_EQ(refusal.message(), "bad shm hello: wrong size");
  // A proper client is still served by the same Accept() call.
  auto good = shm_.Connect(Addr(), {}, Soon());
  ASSERT_TRUE(good.ok()) << good.status();
  acceptor.join();
}

}  // namespace
}  // namespace ferry
