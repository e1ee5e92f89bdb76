// Large payloads parsed as they arrive (Connection::ReceiveStreaming): replies on the
// client, one-frame unary requests on the server, through rings far smaller than the
// messages, so call-start bytes and messages wrap around the ring's end at every offset.
// Also what a bad or torn streamed request does to the server: the call fails, the server
// keeps serving.
#include <unistd.h>

#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/channel.h"
#include "runtime/frame.h"
#include "runtime/server.h"
#include "tests/conformance/conformance_service.h"
#include "transports/default_transports.h"
#include "transports/shm/shm_transport.h"
#include "transports/shm/test_util.h"
#include "transports/testing/pattern.h"

namespace ferry {
namespace {

using shm::testing::Token;

using conformance::Conformance;
using conformance::ConformanceService;
using conformance::EchoReply;
using conformance::EchoRequest;

constexpr char kEcho[] = "/ferry.conformance.Conformance/Echo";

std::string Address(absl::string_view options) {
  static int n = 0;
  return absl::StrCat("shm://stream-", ::getpid(), "-", Token(), "-", n++, "?", options);
}

absl::Time Soon() { return absl::Now() + absl::Seconds(20); }

struct Served {
  ConformanceService service;
  std::unique_ptr<Server> server;
  std::unique_ptr<Conformance::Stub> stub;
};

std::unique_ptr<Served> Serve(HandlerThread echo_thread, absl::string_view options) {
  auto s = std::make_unique<Served>();
  auto server = ServerBuilder(DefaultTransports())
                    .AddListeningAddress(Address(options))
                    .RegisterService(&s->service, HandlerThread::kInline)
                    .SetMethodThread(kEcho, echo_thread)
                    .BuildAndStart();
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  s->server = *std::move(server);
  auto channel = Channel::Create(s->server->addresses()[0], DefaultTransports());
  EXPECT_TRUE(channel.ok()) << channel.status();
  if (!channel.ok()) return nullptr;
  s->stub = std::make_unique<Conformance::Stub>(*channel);
  return s;
}

// Requests and replies of 0 to 300 KB with call-start bytes of up to ~6 KB (metadata)
// through 4 KiB and 64 KiB rings: every one arrives intact, for an inline handler (which
// parses the request from the ring) and a pool handler (which gets a copy).
class StreamedCallsTest : public testing::TestWithParam<HandlerThread> {};

TEST_P(StreamedCallsTest, EverySizeArrivesIntact) {
  for (const char* ring : {"ring=4096", "ring=65536&wake=spin"}) {
    SCOPED_TRACE(ring);
    std::unique_ptr<Served> s = Serve(GetParam(), ring);
    ASSERT_NE(s, nullptr);
    std::mt19937 rng(17);
    for (int i = 0; i < 120; ++i) {
      const size_t size = i % 4 == 0 ? rng() % 2000 : 60000 + rng() % 240000;
      const std::string payload = PatternBytes(size, static_cast<uint32_t>(i));
      const std::string echo(i % 3 == 0 ? rng() % 6000 : rng() % 40, 'm');
      ClientContext ctx;
      ctx.set_deadline(Soon());
      if (!echo.empty()) ctx.AddMetadata("x-echo", echo);
      EchoRequest req;
      req.set_payload(payload);
      absl::StatusOr<EchoReply> reply = s->stub->Echo(ctx, req);
      ASSERT_TRUE(reply.ok()) << "call " << i << ": " << reply.status();
      ASSERT_TRUE(reply->payload() == payload) << "call " << i << " of " << size;
      ASSERT_EQ(reply->echoed_metadata(), echo) << "call " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Handlers, StreamedCallsTest,
                         testing::Values(HandlerThread::kInline, HandlerThread::kPool),
                         [](const testing::TestParamInfo<HandlerThread>& info) {
                           return info.param == HandlerThread::kInline ? "Inline" : "Pool";
                         });

// A client that speaks frames itself over one shm connection.
class RawClient {
 public:
  static std::unique_ptr<RawClient> Connect(const std::string& address) {
    auto conn = transport_.Connect(*ferry::Address::Parse(address), {}, Soon());
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (!conn.ok()) return nullptr;
    auto c = std::unique_ptr<RawClient>(new RawClient(*std::move(conn)));
    std::string hello;
    EncodeHello(HelloPayload{kDefaultMaxMessageSize, kOwnFeatures}, &hello);
    const OutFrame out = MakeFrame(FrameType::kHello, 0, 0, hello);
    EXPECT_TRUE(c->conn_->Send({&out, 1}, Soon()).ok());
    absl::StatusOr<Frame> f = c->conn_->Receive(Soon());
    EXPECT_TRUE(f.ok() && f->header.type == FrameType::kHello);
    return c;
  }

  // Sends one CALL_START + WITH_MESSAGE frame: the call-start bytes, then `message`.
  absl::Status SendUnary(uint32_t id, absl::string_view call_start, absl::string_view message,
                         absl::Time deadline = Soon()) {
    std::string payload = std::string(call_start) + std::string(message);
    const OutFrame f = MakeFrame(FrameType::kCallStart, kFlagWithMessage, id, payload);
    return conn_->Send({&f, 1}, deadline);
  }
  // The status the server ended call `id` with (skipping its reply message).
  absl::StatusCode Result(uint32_t id) {
    for (;;) {
      absl::StatusOr<Frame> f = conn_->Receive(Soon());
      if (!f.ok()) return absl::StatusCode::kDataLoss;  // (not a status the server sends)
      if (f->header.call_id != id) continue;
      if (f->header.type == FrameType::kMessage && (f->header.flags & kFlagEndOfCall) != 0) {
        return absl::StatusCode::kOk;
      }
      if (f->header.type == FrameType::kCallEnd) {
        CallEndView end;
        if (!DecodeCallEnd(f->payload, &end).ok()) return absl::StatusCode::kDataLoss;
        return end.code;
      }
    }
  }
  Connection& conn() { return *conn_; }

 private:
  explicit RawClient(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}
  static ShmTransport transport_;
  std::unique_ptr<Connection> conn_;
};
ShmTransport RawClient::transport_;

std::string CallStart(absl::string_view method) {
  std::string out;
  EncodeCallStart(method, kNoDeadline, {}, &out);
  return out;
}

std::string EchoBytes(size_t n) {
  EchoRequest req;
  req.set_payload(std::string(n, 'e'));
  return req.SerializeAsString();
}

TEST(StreamedRequestTest, BadStreamedRequestsFailTheirCallAndTheServerKeepsServing) {
  std::unique_ptr<Served> s = Serve(HandlerThread::kInline, "ring=4096");
  ASSERT_NE(s, nullptr);
  std::unique_ptr<RawClient> c = RawClient::Connect(s->server->addresses()[0]);
  ASSERT_NE(c, nullptr);
  const std::string big_garbage(200000, '\xff');
  // Valid call-start bytes, a request that is not an EchoRequest.
  std::thread sender([&] { ASSERT_TRUE(c->SendUnary(1, CallStart(kEcho), big_garbage).ok()); });
  EXPECT_EQ(c->Result(1), absl::StatusCode::kInvalidArgument);
  sender.join();
  // Call-start bytes that do not decode (a negative deadline budget).
  sender = std::thread([&] {
    std::string start;
    EncodeCallStart(kEcho, -5, {}, &start);
    ASSERT_TRUE(c->SendUnary(3, start, big_garbage).ok());
  });
  EXPECT_EQ(c->Result(3), absl::StatusCode::kInvalidArgument);
  sender.join();
  // An unknown method: the request is skipped unread.
  sender = std::thread(
      [&] { ASSERT_TRUE(c->SendUnary(5, CallStart("/no.Such/Method"), EchoBytes(300000)).ok()); });
  EXPECT_EQ(c->Result(5), absl::StatusCode::kUnimplemented);
  sender.join();
  // Call-start bytes over the control limit.
  sender = std::thread([&] {
    std::string start;
    EncodeCallStart(kEcho, kNoDeadline, {{"x-big", std::string(kMaxControlPayload, 'b')}},
                    &start);
    ASSERT_TRUE(c->SendUnary(7, start, EchoBytes(1000)).ok());
  });
  EXPECT_EQ(c->Result(7), absl::StatusCode::kResourceExhausted);
  sender.join();
  // And the connection still serves.
  sender = std::thread(
      [&] { ASSERT_TRUE(c->SendUnary(9, CallStart(kEcho), EchoBytes(300000)).ok()); });
  EXPECT_EQ(c->Result(9), absl::StatusCode::kOk);
  sender.join();
}

// A client that gives up halfway through a streamed request (its send times out and
// closes the connection) costs the server that connection only.
TEST(StreamedRequestTest, ARequestCutOffMidFrameEndsOnlyThatConnection) {
  std::unique_ptr<Served> s = Serve(HandlerThread::kInline, "ring=4096");
  ASSERT_NE(s, nullptr);
  std::unique_ptr<RawClient> c = RawClient::Connect(s->server->addresses()[0]);
  ASSERT_NE(c, nullptr);
  // A frame far larger than the ring, with a deadline too short to finish it: the send
  // gives up after part of the frame is visible to the server, and closes.
  const absl::Status sent = c->SendUnary(1, CallStart(kEcho), EchoBytes(3 << 20),
                                         absl::Now() + absl::Microseconds(300));
  if (sent.ok()) GTEST_SKIP() << "the whole 3 MiB frame went through in 300 us";
  EXPECT_EQ(sent.code(), absl::StatusCode::kDeadlineExceeded) << sent;
  EXPECT_TRUE(absl::StrContains(sent.message(), "partial send")) << sent;
  // The server drops that connection and serves a new client.
  ClientContext ctx;
  ctx.set_deadline(Soon());
  EchoRequest req;
  req.set_payload(std::string(500000, 'p'));
  absl::StatusOr<EchoReply> reply = s->stub->Echo(ctx, req);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->payload().size(), 500000u);
}

}  // namespace
}  // namespace ferry
