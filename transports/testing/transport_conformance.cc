#include "transports/testing/pattern.h"
#include "transports/testing/transport_conformance.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/wrappers.pb.h"
#include "runtime/frame.h"

namespace ferry {
namespace {

// How long anything that should happen "promptly" may take on a loaded 2-core machine.
constexpr absl::Duration kPatience = absl::Seconds(10);
// A deadline that is expected to expire.
constexpr absl::Duration kShort = absl::Milliseconds(50);

absl::Time Soon() { return absl::Now() + kPatience; }

void WriteRaw(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    ASSERT_GT(n, 0) << "raw write: " << std::strerror(errno);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Sends from a thread (large frames need a concurrent reader) and joins on destruction.
class AsyncSend {
 public:
  AsyncSend(Connection& conn, std::vector<OutFrame> frames)
      : frames_(std::move(frames)),
        thread_([this, &conn] { status_ = conn.Send(frames_, Soon()); }) {}
  absl::Status Wait() {
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  ~AsyncSend() { Wait().IgnoreError(); }

 private:
  std::vector<OutFrame> frames_;
  absl::Status status_;
  std::thread thread_;
};

}  // namespace

std::string TransportConformanceName(
    const ::testing::TestParamInfo<TransportConformanceParam>& info) {
  return info.param.name;
}

void TransportConformanceTest::SetUp() {
  if (GetParam().skip_reason) {
    const std::string why = GetParam().skip_reason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
  char dir[] = "/tmp/ferry-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr) << std::strerror(errno);
  scratch_dir_ = dir;
  transport_ = GetParam().make_transport();
  ASSERT_NE(transport_, nullptr);
}

void TransportConformanceTest::TearDown() {
  if (!scratch_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(scratch_dir_, ignored);
  }
}

std::unique_ptr<Listener> TransportConformanceTest::ListenFresh(const ConnectionLimits& limits) {
  absl::StatusOr<Address> addr = Address::Parse(GetParam().listen_address(scratch_dir_));
  EXPECT_TRUE(addr.ok()) << addr.status();
  if (!addr.ok()) return nullptr;
  auto listener = transport_->Listen(*addr, limits);
  EXPECT_TRUE(listener.ok()) << listener.status();
  if (!listener.ok()) return nullptr;
  return *std::move(listener);
}

TransportConformanceTest::Pair TransportConformanceTest::Connected(
    const ConnectionLimits& client_limits, const ConnectionLimits& server_limits) {
  Pair p;
  p.listener = ListenFresh(server_limits);
  if (p.listener == nullptr) return p;
  absl::StatusOr<Address> addr = Address::Parse(p.listener->address());
  EXPECT_TRUE(addr.ok()) << addr.status();
  if (!addr.ok()) return p;
  auto client = transport_->Connect(*addr, client_limits, Soon());
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return p;
  auto server = p.listener->Accept();
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return p;
  p.client = *std::move(client);
  p.server = *std::move(server);
  return p;
}

#define FERRY_CONNECT_OR_RETURN(pair, ...)                                      \
  Pair pair = Connected(__VA_ARGS__);                                           \
  if (pair.client == nullptr || pair.server == nullptr) {                       \
    ADD_FAILURE() << "could not set up a connection";                           \
    return;                                                                     \
  }

// ---- Frames ----------------------------------------------------------------------------

TEST_P(TransportConformanceTest, RoundTripsEverySizeUpToTheLimit) {
  FERRY_CONNECT_OR_RETURN(p);
  const uint32_t limit = ConnectionLimits{}.max_frame_payload;
  const std::vector<size_t> sizes = {0, 1, 64, 4096, 1 << 20, limit};
  uint32_t call_id = 1;
  for (size_t size : sizes) {
    SCOPED_TRACE(absl::StrCat("payload of ", size, " bytes"));
    const std::string there = PatternBytes(size, call_id);
    const std::string back = PatternBytes(size, call_id + 1000);
    {
      AsyncSend send(*p.client, {MakeFrame(FrameType::kMessage, kFlagEndOfStream, call_id, there)});
      absl::StatusOr<Frame> f = p.server->Receive(Soon());
      ASSERT_TRUE(f.ok()) << f.status();
      EXPECT_EQ(f->header.type, FrameType::kMessage);
      EXPECT_EQ(f->header.flags, kFlagEndOfStream);
      EXPECT_EQ(f->header.call_id, call_id);
      EXPECT_EQ(f->header.payload_length, size);
      EXPECT_TRUE(f->payload == there) << "payload differs";
      EXPECT_TRUE(send.Wait().ok());
    }
    {
      AsyncSend send(*p.server, {MakeFrame(FrameType::kCallEnd, 0, call_id, back)});
      absl::StatusOr<Frame> f = p.client->Receive(Soon());
      ASSERT_TRUE(f.ok()) << f.status();
      EXPECT_EQ(f->header.type, FrameType::kCallEnd);
      EXPECT_EQ(f->header.call_id, call_id);
      EXPECT_TRUE(f->payload == back) << "payload differs";
      EXPECT_TRUE(send.Wait().ok());
    }
    ++call_id;
  }
}

// SendMessage: the frame carries the prefix and then the message's wire form, whether the
// mechanism serializes into its own buffers (shm) or takes the default path.
TEST_P(TransportConformanceTest, SendMessageCarriesPrefixAndMessage) {
  FERRY_CONNECT_OR_RETURN(p);
  uint32_t call_id = 1;
  for (size_t size : {size_t{0}, size_t{64}, size_t{4096}, size_t{1} << 20}) {
    for (size_t prefix_size : {size_t{0}, size_t{40}}) {
      SCOPED_TRACE(absl::StrCat("message of ", size, " bytes after ", prefix_size));
      const std::string prefix = PatternBytes(prefix_size, call_id);
      google::protobuf::BytesValue message;
      message.set_value(PatternBytes(size, call_id + 1000));
      const size_t message_size = message.ByteSizeLong();
      const FrameHeader header{FrameType::kMessage, kFlagEndOfStream, call_id,
                               static_cast<uint32_t>(prefix_size + message_size)};
      absl::Status sent;
      std::thread sender(
          [&] { sent = p.client->SendMessage(header, prefix, message, message_size, Soon()); });
      absl::StatusOr<Frame> f = p.server->Receive(Soon());
      sender.join();
      ASSERT_TRUE(sent.ok()) << sent;
      ASSERT_TRUE(f.ok()) << f.status();
      EXPECT_EQ(f->header.type, FrameType::kMessage);
      EXPECT_EQ(f->header.flags, kFlagEndOfStream);
      EXPECT_EQ(f->header.call_id, call_id);
      EXPECT_TRUE(f->payload == prefix + message.SerializeAsString()) << "payload differs";
      ++call_id;
    }
  }
  const FrameHeader wrong{FrameType::kMessage, 0, call_id, 7};
  EXPECT_EQ(p.client->SendMessage(wrong, "ab", google::protobuf::BytesValue(), 0, Soon()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(TransportConformanceTest, ManyFramesInOneSendArriveInOrder) {
  FERRY_CONNECT_OR_RETURN(p);
  std::vector<std::string> payloads;
  std::vector<OutFrame> frames;
  for (uint32_t i = 0; i < 200; ++i) payloads.push_back(PatternBytes((i * 37) % 3000, i));
  for (uint32_t i = 0; i < 200; ++i) {
    if (i % 10 == 9) {
      frames.push_back(MakeFrame(FrameType::kPing, 0, 0, payloads[i]));
    } else {
      frames.push_back(MakeFrame(FrameType::kMessage, 0, i + 1, payloads[i]));
    }
  }
  AsyncSend send(*p.client, frames);
  for (uint32_t i = 0; i < 200; ++i) {
    absl::StatusOr<Frame> f = p.server->Receive(Soon());
    ASSERT_TRUE(f.ok()) << "frame " << i << ": " << f.status();
    EXPECT_EQ(f->header.type, frames[i].header.type) << i;
    EXPECT_EQ(f->header.call_id, frames[i].header.call_id) << i;
    EXPECT_TRUE(f->payload == payloads[i]) << "frame " << i << " payload differs";
  }
  EXPECT_TRUE(send.Wait().ok());
}

TEST_P(TransportConformanceTest, ConcurrentSendersNeverInterleave) {
  FERRY_CONNECT_OR_RETURN(p);
  constexpr uint32_t kThreads = 8, kSends = 60, kFramesPerSend = 3;
  // Payload: [thread u32][seq u32][index u32] then a pattern, so a receiver can check
  // each Send()'s frames came out contiguous, whole and in order.
  auto payload = [](uint32_t t, uint32_t seq, uint32_t idx) {
    std::string s(12, '\0');
    absl::big_endian::Store32(&s[0], t);
    absl::big_endian::Store32(&s[4], seq);
    absl::big_endian::Store32(&s[8], idx);
    return s + PatternBytes((t * 131 + seq * 17 + idx * 501) % 4000, t * 100000 + seq * 10 + idx);
  };
  std::vector<std::thread> senders;
  std::atomic<int> send_failures{0};
  for (uint32_t t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (uint32_t seq = 0; seq < kSends; ++seq) {
        std::vector<std::string> ps;
        std::vector<OutFrame> frames;
        for (uint32_t i = 0; i < kFramesPerSend; ++i) ps.push_back(payload(t, seq, i));
        for (uint32_t i = 0; i < kFramesPerSend; ++i) {
          frames.push_back(MakeFrame(FrameType::kMessage, 0, t + 1, ps[i]));
        }
        if (!p.client->Send(frames, Soon()).ok()) ++send_failures;
      }
    });
  }
  std::vector<uint32_t> next_seq(kThreads, 0);
  for (uint32_t n = 0; n < kThreads * kSends; ++n) {
    uint32_t thread = 0, seq = 0;
    for (uint32_t i = 0; i < kFramesPerSend; ++i) {
      absl::StatusOr<Frame> f = p.server->Receive(Soon());
      ASSERT_TRUE(f.ok()) << f.status();
      ASSERT_GE(f->payload.size(), 12u);
      const uint32_t t = absl::big_endian::Load32(f->payload.data());
      const uint32_t s = absl::big_endian::Load32(f->payload.data() + 4);
      const uint32_t idx = absl::big_endian::Load32(f->payload.data() + 8);
      ASSERT_LT(t, kThreads);
      if (i == 0) {
        thread = t;
        seq = s;
        EXPECT_EQ(s, next_seq[t]) << "sends of one thread out of order";
        next_seq[t] = s + 1;
      } else {
        ASSERT_EQ(t, thread) << "frames of two Send() calls interleaved";
        ASSERT_EQ(s, seq) << "frames of two Send() calls interleaved";
      }
      ASSERT_EQ(idx, i) << "frames of one Send() out of order";
      ASSERT_EQ(f->header.call_id, t + 1);
      ASSERT_TRUE(f->payload == payload(t, s, idx)) << "payload corrupted";
    }
  }
  for (auto& s : senders) s.join();
  EXPECT_EQ(send_failures.load(), 0);
}

TEST_P(TransportConformanceTest, EmptySendIsANoOp) {
  FERRY_CONNECT_OR_RETURN(p);
  EXPECT_TRUE(p.client->Send({}, Soon()).ok());
  OutFrame f = MakeFrame(FrameType::kPing, 0, 0, "12345678");
  ASSERT_TRUE(p.client->Send({&f, 1}, Soon()).ok());
  absl::StatusOr<Frame> got = p.server->Receive(Soon());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->header.type, FrameType::kPing);
  EXPECT_EQ(got->payload, "12345678");
}

// ---- Limits and bad input --------------------------------------------------------------

TEST_P(TransportConformanceTest, FrameAboveTheReceiverLimitIsResourceExhausted) {
  ConnectionLimits small;
  small.max_frame_payload = 1024;
  FERRY_CONNECT_OR_RETURN(p, ConnectionLimits{}, small);
  const std::string fits(1024, 'f'), too_big(1025, 'b');
  std::vector<OutFrame> frames = {MakeFrame(FrameType::kMessage, 0, 1, fits),
                                  MakeFrame(FrameType::kMessage, 0, 1, too_big)};
  ASSERT_TRUE(p.client->Send(frames, Soon()).ok());
  absl::StatusOr<Frame> f = p.server->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->payload.size(), 1024u);
  EXPECT_EQ(p.server->Receive(Soon()).status().code(), absl::StatusCode::kResourceExhausted);
  // The connection has lost frame sync for good.
  EXPECT_EQ(p.server->Receive(Soon()).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_P(TransportConformanceTest, MismatchedPayloadLengthIsInvalidArgument) {
  FERRY_CONNECT_OR_RETURN(p);
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "abc");
  f.header.payload_length = 4;
  EXPECT_EQ(p.client->Send({&f, 1}, Soon()).code(), absl::StatusCode::kInvalidArgument);
  // Nothing was sent; the connection still works.
  OutFrame good = MakeFrame(FrameType::kMessage, 0, 1, "abc");
  ASSERT_TRUE(p.client->Send({&good, 1}, Soon()).ok());
  absl::StatusOr<Frame> got = p.server->Receive(Soon());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, "abc");
}

TEST_P(TransportConformanceTest, GarbageFromARawPeerIsInvalidArgument) {
  if (!GetParam().raw_connect) GTEST_SKIP() << GetParam().raw_skip_reason;
  std::unique_ptr<Listener> listener = ListenFresh();
  ASSERT_NE(listener, nullptr);
  absl::StatusOr<UniqueFd> raw = GetParam().raw_connect(listener->address());
  ASSERT_TRUE(raw.ok()) << raw.status();
  auto server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  WriteRaw(raw->get(), "GET / HTTP/1.1\r\nHost: ferry\r\n\r\n");
  EXPECT_EQ((*server)->Receive(Soon()).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Deadlines -------------------------------------------------------------------------

TEST_P(TransportConformanceTest, ReceiveDeadlineThenTheFrameStillArrives) {
  FERRY_CONNECT_OR_RETURN(p);
  const absl::Time start = absl::Now();
  absl::StatusOr<Frame> f = p.server->Receive(start + kShort);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDeadlineExceeded) << f.status();
  EXPECT_GE(absl::Now() - start, kShort - absl::Milliseconds(1));
  EXPECT_LT(absl::Now() - start, kPatience);
  // A deadline already in the past does not wait at all.
  EXPECT_EQ(p.server->Receive(absl::InfinitePast()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  const std::string payload = PatternBytes(10000, 5);
  OutFrame out = MakeFrame(FrameType::kMessage, 0, 3, payload);
  ASSERT_TRUE(p.client->Send({&out, 1}, Soon()).ok());
  f = p.server->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->payload == payload);
}

TEST_P(TransportConformanceTest, PartialFrameIsKeptAcrossAReceiveDeadline) {
  if (!GetParam().raw_connect) GTEST_SKIP() << GetParam().raw_skip_reason;
  std::unique_ptr<Listener> listener = ListenFresh();
  ASSERT_NE(listener, nullptr);
  absl::StatusOr<UniqueFd> raw = GetParam().raw_connect(listener->address());
  ASSERT_TRUE(raw.ok()) << raw.status();
  auto server = listener->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string payload = PatternBytes(20000, 9);
  const FrameHeader h{FrameType::kMessage, kFlagEndOfStream, 11, 20000};
  const std::string wire = h.Serialize() + payload;
  // Half a header, then a deadline; half the payload, then a deadline; then the rest.
  WriteRaw(raw->get(), wire.substr(0, 7));
  EXPECT_EQ((*server)->Receive(absl::Now() + kShort).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  WriteRaw(raw->get(), wire.substr(7, 10000));
  EXPECT_EQ((*server)->Receive(absl::Now() + kShort).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  WriteRaw(raw->get(), wire.substr(10007));
  absl::StatusOr<Frame> f = (*server)->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->header, h);
  EXPECT_TRUE(f->payload == payload);
}

TEST_P(TransportConformanceTest, SendNeverBlocksPastItsDeadline) {
  FERRY_CONNECT_OR_RETURN(p);
  // Nobody reads the server end: sooner or later the mechanism is full.
  const std::string chunk(1 << 20, 'c');
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, chunk);
  absl::Status s;
  for (int i = 0; i < 512 && s.ok(); ++i) {
    const absl::Time start = absl::Now();
    s = p.client->Send({&f, 1}, start + kShort);
    EXPECT_LT(absl::Now() - start, kShort + absl::Seconds(2)) << "Send overran its deadline";
  }
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
}

// ---- Peer death and Close() ------------------------------------------------------------

TEST_P(TransportConformanceTest, PeerCloseMakesReceiveAndSendUnavailable) {
  FERRY_CONNECT_OR_RETURN(p);
  p.client->Close();
  EXPECT_EQ(p.server->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "late");
  EXPECT_EQ(p.server->Send({&f, 1}, Soon()).code(), absl::StatusCode::kUnavailable);
}

TEST_P(TransportConformanceTest, FramesSentBeforeCloseAreDelivered) {
  FERRY_CONNECT_OR_RETURN(p);
  std::vector<OutFrame> frames = {MakeFrame(FrameType::kMessage, 0, 1, "one"),
                                  MakeFrame(FrameType::kMessage, 0, 1, "two"),
                                  MakeFrame(FrameType::kHalfClose, 0, 1, "")};
  ASSERT_TRUE(p.client->Send(frames, Soon()).ok());
  p.client->Close();
  for (const OutFrame& want : frames) {
    absl::StatusOr<Frame> f = p.server->Receive(Soon());
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->header.type, want.header.type);
    EXPECT_EQ(f->payload, want.payload);
  }
  EXPECT_EQ(p.server->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
}

TEST_P(TransportConformanceTest, SendToAClosedPeerBecomesUnavailable) {
  FERRY_CONNECT_OR_RETURN(p);
  p.server->Close();
  // Without reading first: some mechanisms (TCP) accept a write or two before they learn
  // the peer is gone; none may report success for long, nor any other error.
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "anyone?");
  absl::Status s;
  const absl::Time give_up = Soon();
  while (s.ok() && absl::Now() < give_up) {
    s = p.client->Send({&f, 1}, Soon());
    if (s.ok()) absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

// The runtime handles a received frame (an inline handler may run on its request for a
// long time) while a server shutdown closes the connection from another thread: the view
// must stay readable until the next Receive(), which then fails.
TEST_P(TransportConformanceTest, AFrameViewOutlivesACloseFromAnotherThread) {
  for (size_t size : {size_t{100}, size_t{200000}}) {  // zero-copy and copied, where it differs
    SCOPED_TRACE(size);
    FERRY_CONNECT_OR_RETURN(p);
    const std::string payload = PatternBytes(size, 7);
    OutFrame out = MakeFrame(FrameType::kMessage, 0, 1, payload);
    absl::Status sent;
    std::thread sender([&] { sent = p.client->Send({&out, 1}, Soon()); });
    absl::StatusOr<Frame> f = p.server->Receive(Soon());
    sender.join();
    ASSERT_TRUE(sent.ok()) << sent;
    ASSERT_TRUE(f.ok()) << f.status();
    std::thread closer([&] { p.server->Close(); });
    closer.join();
    EXPECT_EQ(f->payload, payload);  // still mapped / allocated (ASan checks the bytes)
    EXPECT_EQ(p.server->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST_P(TransportConformanceTest, CloseFromAnotherThreadWakesABlockedReceive) {
  for (absl::Time deadline : {absl::InfiniteFuture(), absl::Now() + absl::Hours(1)}) {
    SCOPED_TRACE(deadline == absl::InfiniteFuture() ? "infinite deadline" : "finite deadline");
    FERRY_CONNECT_OR_RETURN(p);
    absl::Notification done;
    absl::Status result;
    std::thread receiver([&] {
      result = p.server->Receive(deadline).status();
      done.Notify();
    });
    absl::SleepFor(kShort);  // let it block
    const absl::Time closed_at = absl::Now();
    p.server->Close();
    const bool woke = done.WaitForNotificationWithTimeout(kPatience);
    EXPECT_TRUE(woke) << "Close() did not wake Receive()";
    if (!woke) p.client->Close();  // last resort, so the thread can be joined
    receiver.join();
    EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable) << result;
    EXPECT_LT(absl::Now() - closed_at, absl::Seconds(1));
    // The peer learns of it too.
    EXPECT_EQ(p.client->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST_P(TransportConformanceTest, CloseFromAnotherThreadWakesABlockedSend) {
  FERRY_CONNECT_OR_RETURN(p);
  const std::string chunk(1 << 20, 'w');
  absl::Notification done;
  absl::Status result;
  std::thread sender([&] {
    OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, chunk);
    // Nobody reads: this blocks once the mechanism is full.
    for (int i = 0; i < 4096 && result.ok(); ++i) result = p.client->Send({&f, 1}, absl::InfiniteFuture());
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(200));
  p.client->Close();
  const bool woke = done.WaitForNotificationWithTimeout(kPatience);
  EXPECT_TRUE(woke) << "Close() did not wake Send()";
  if (!woke) p.server->Close();
  sender.join();
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable) << result;
}

TEST_P(TransportConformanceTest, CloseIsIdempotentAndThreadSafe) {
  FERRY_CONNECT_OR_RETURN(p);
  std::vector<std::thread> closers;
  for (int i = 0; i < 4; ++i) closers.emplace_back([&] { p.client->Close(); });
  for (auto& t : closers) t.join();
  p.client->Close();
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "x");
  EXPECT_EQ(p.client->Send({&f, 1}, Soon()).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(p.client->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(p.client->Receive(absl::InfiniteFuture()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(p.server->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  p.server->Close();
  p.server->Close();
}

// ---- Listeners -------------------------------------------------------------------------

TEST_P(TransportConformanceTest, AcceptAfterListenerCloseIsUnavailable) {
  std::unique_ptr<Listener> listener = ListenFresh();
  ASSERT_NE(listener, nullptr);
  listener->Close();
  listener->Close();
  EXPECT_EQ(listener->Accept().status().code(), absl::StatusCode::kUnavailable);
}

TEST_P(TransportConformanceTest, ListenerCloseWakesABlockedAccept) {
  std::unique_ptr<Listener> listener = ListenFresh();
  ASSERT_NE(listener, nullptr);
  absl::Notification done;
  absl::Status result;
  std::thread acceptor([&] {
    result = listener->Accept().status();
    done.Notify();
  });
  absl::SleepFor(kShort);
  listener->Close();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPatience)) << "Close() did not wake Accept()";
  acceptor.join();
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable) << result;
}

TEST_P(TransportConformanceTest, ConnectAfterListenerCloseIsUnavailable) {
  std::unique_ptr<Listener> listener = ListenFresh();
  ASSERT_NE(listener, nullptr);
  absl::StatusOr<Address> addr = Address::Parse(listener->address());
  ASSERT_TRUE(addr.ok()) << addr.status();
  listener->Close();
  auto conn = transport().Connect(*addr, {}, Soon());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable) << conn.status();
}

TEST_P(TransportConformanceTest, ListenOnALiveAddressIsAlreadyExists) {
  std::unique_ptr<Listener> listener = ListenFresh();
  ASSERT_NE(listener, nullptr);
  absl::StatusOr<Address> addr = Address::Parse(listener->address());
  ASSERT_TRUE(addr.ok()) << addr.status();
  auto second = transport().Listen(*addr, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  // The first listener still works.
  auto client = transport().Connect(*addr, {}, Soon());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(listener->Accept().ok());
  // Once it is closed the address is free again.
  listener->Close();
  auto third = transport().Listen(*addr, {});
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST_P(TransportConformanceTest, AddressAndPeerDescriptionNameTheScheme) {
  FERRY_CONNECT_OR_RETURN(p);
  absl::StatusOr<Address> addr = Address::Parse(p.listener->address());
  ASSERT_TRUE(addr.ok()) << addr.status();
  EXPECT_EQ(addr->scheme, transport().scheme());
  const std::string prefix = absl::StrCat(transport().scheme(), ":");
  EXPECT_EQ(p.client->PeerDescription().rfind(prefix, 0), 0u) << p.client->PeerDescription();
  EXPECT_EQ(p.server->PeerDescription().rfind(prefix, 0), 0u) << p.server->PeerDescription();
}

TEST_P(TransportConformanceTest, ConnectionsOfOneListenerAreIndependent) {
  std::unique_ptr<Listener> listener = ListenFresh();
  ASSERT_NE(listener, nullptr);
  absl::StatusOr<Address> addr = Address::Parse(listener->address());
  ASSERT_TRUE(addr.ok());
  std::vector<std::unique_ptr<Connection>> clients, servers;
  for (uint32_t i = 0; i < 3; ++i) {
    auto c = transport().Connect(*addr, {}, Soon());
    ASSERT_TRUE(c.ok()) << c.status();
    auto s = listener->Accept();
    ASSERT_TRUE(s.ok()) << s.status();
    clients.push_back(*std::move(c));
    servers.push_back(*std::move(s));
  }
  for (uint32_t i = 0; i < 3; ++i) {
    const std::string msg = absl::StrCat("client ", i);
    OutFrame f = MakeFrame(FrameType::kMessage, 0, i + 1, msg);
    ASSERT_TRUE(clients[i]->Send({&f, 1}, Soon()).ok());
  }
  clients[0]->Close();
  for (uint32_t i = 0; i < 3; ++i) {
    absl::StatusOr<Frame> f = servers[i]->Receive(Soon());
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->payload, absl::StrCat("client ", i));
    EXPECT_EQ(f->header.call_id, i + 1);
  }
  EXPECT_EQ(servers[0]->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(servers[1]->Receive(absl::Now() + kShort).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

}  // namespace ferry
