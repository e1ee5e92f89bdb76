// The one-frame unary forms (docs/wire-format.md: HELLO features, CALL_START +
// WITH_MESSAGE, MESSAGE + END_OF_CALL) on the wire, with a raw peer on one side and the
// real runtime on the other, over the in-process loopback transport: both sides use them
// only when the peer offered them, and a peer that predates them (a 4-byte HELLO) is
// served with the two-frame forms.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "runtime/channel.h"
#include "runtime/frame.h"
#include "runtime/server.h"
#include "tests/conformance/conformance_service.h"
#include "transports/loopback/loopback_transport.h"

namespace ferry::conformance {
namespace {

constexpr char kEcho[] = "/ferry.conformance.Conformance/Echo";
constexpr char kSleep[] = "/ferry.conformance.Conformance/Sleep";
constexpr char kFail[] = "/ferry.conformance.Conformance/Fail";

std::shared_ptr<const TransportRegistry> Loopback() {
  auto registry = std::make_shared<TransportRegistry>();
  EXPECT_TRUE(registry->Register(std::make_unique<LoopbackTransport>()).ok());
  return registry;
}

std::string Serialized(const google::protobuf::MessageLite& m) { return m.SerializeAsString(); }

std::string EchoBody(const std::string& payload) {
  EchoRequest r;
  r.set_payload(payload);
  return Serialized(r);
}

std::string Start(const char* method, const Metadata& md = {}) {
  std::string p;
  EncodeCallStart(method, 10'000'000, md, &p);
  return p;
}

// A real server (Echo inline, Sleep on the pool) and a raw client connection to it.
class UnaryFramesServer : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.max_receive_message_size = 1024;
    StartServer(options);
  }

  void StartServer(const ServerOptions& options) {
    if (server_ != nullptr) server_->Shutdown(absl::Now());
    server_.reset();
    auto s = ServerBuilder(registry_)
                 .AddListeningAddress("inproc:unary-frames")
                 .RegisterService(&service_, HandlerThread::kInline)
                 .SetMethodThread(kSleep, HandlerThread::kPool)
                 .SetOptions(options)
                 .BuildAndStart();
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  // Connects and exchanges HELLOs; `hello` is the client's raw HELLO payload.
  std::unique_ptr<Connection> Connect(const std::string& hello, HelloPayload* server_hello) {
    absl::StatusOr<Address> address = Address::Parse("inproc:unary-frames");
    EXPECT_TRUE(address.ok());
    absl::StatusOr<std::unique_ptr<Connection>> conn =
        registry_->Find("inproc")->Connect(*address, ConnectionLimits{}, deadline_);
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (!conn.ok()) return nullptr;
    const OutFrame f = MakeFrame(FrameType::kHello, 0, 0, hello);
    EXPECT_TRUE((*conn)->Send({&f, 1}, deadline_).ok());
    absl::StatusOr<Frame> ack = (*conn)->Receive(deadline_);
    EXPECT_TRUE(ack.ok()) << ack.status();
    if (!ack.ok()) return nullptr;
    EXPECT_EQ(ack->header.type, FrameType::kHello);
    absl::StatusOr<HelloPayload> h = DecodeHello(ack->payload);
    EXPECT_TRUE(h.ok()) << h.status();
    if (h.ok()) *server_hello = *h;
    return *std::move(conn);
  }

  std::unique_ptr<Connection> ConnectWithFeatures(uint32_t features) {
    std::string hello;
    EncodeHello(HelloPayload{kDefaultMaxMessageSize, features}, &hello);
    HelloPayload server_hello;
    return Connect(hello, &server_hello);
  }

  // Sends `frames`, then a PING, and returns every frame received before the PING's ACK
  // (so a frame the server sent after the call's end would show up).
  std::vector<std::pair<FrameHeader, std::string>> Exchange(Connection& conn,
                                                            absl::Span<const OutFrame> frames) {
    std::vector<OutFrame> all(frames.begin(), frames.end());
    all.push_back(MakeFrame(FrameType::kPing, 0, 0, "barrier!"));
    std::vector<std::pair<FrameHeader, std::string>> got;
    EXPECT_TRUE(conn.Send(all, deadline_).ok());
    for (;;) {
      absl::StatusOr<Frame> f = conn.Receive(deadline_);
      if (!f.ok()) {
        ADD_FAILURE() << "no PING ACK: " << f.status();
        return got;
      }
      if (f->header.type == FrameType::kPing) return got;
      got.emplace_back(f->header, std::string(f->payload));
    }
  }

  const absl::Time deadline_ = absl::Now() + absl::Seconds(20);
  std::shared_ptr<const TransportRegistry> registry_ = Loopback();
  ConformanceService service_;
  std::unique_ptr<Server> server_;
};

std::string ReplyPayload(const std::string& bytes) {
  EchoReply r;
  EXPECT_TRUE(r.ParseFromString(bytes));
  return r.payload();
}

TEST_F(UnaryFramesServer, OffersTheFeatureInItsHello) {
  std::string hello;
  EncodeHello(HelloPayload{kDefaultMaxMessageSize, 0}, &hello);
  HelloPayload server_hello;
  auto conn = Connect(hello, &server_hello);
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(server_hello.features & kFeatureUnaryFrames, kFeatureUnaryFrames);
  EXPECT_EQ(server_hello.max_message_size, 1024u);
  conn->Close();
}

TEST_F(UnaryFramesServer, ClientThatPredatesFeaturesGetsTwoFrameReplies) {
  // A 4-byte HELLO: only max_message_size, as sent before the features field existed.
  std::string hello;
  EncodeHello(HelloPayload{kDefaultMaxMessageSize, 0}, &hello);
  hello.resize(4);
  HelloPayload server_hello;
  auto conn = Connect(hello, &server_hello);
  ASSERT_NE(conn, nullptr);
  const std::string start = Start(kEcho), body = EchoBody("old");
  const OutFrame frames[] = {MakeFrame(FrameType::kCallStart, 0, 1, start),
                             MakeFrame(FrameType::kMessage, kFlagEndOfStream, 1, body)};
  auto got = Exchange(*conn, frames);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first.type, FrameType::kMessage);
  EXPECT_EQ(got[0].first.flags, 0);
  EXPECT_EQ(ReplyPayload(got[0].second), "old");
  EXPECT_EQ(got[1].first.type, FrameType::kCallEnd);
  CallEndView end;
  ASSERT_TRUE(DecodeCallEnd(got[1].second, &end).ok());
  EXPECT_EQ(end.code, absl::StatusCode::kOk);
  conn->Close();
}

TEST_F(UnaryFramesServer, OneFrameEachWayForAnInlineAndAPoolHandler) {
  auto conn = ConnectWithFeatures(kFeatureUnaryFrames);
  ASSERT_NE(conn, nullptr);
  const std::string echo = Start(kEcho) + EchoBody("one frame");
  SleepRequest sleep;
  sleep.set_ms(1);
  sleep.set_tag("pool");
  const std::string slept = Start(kSleep) + Serialized(sleep);
  const OutFrame frames[] = {MakeFrame(FrameType::kCallStart, kFlagWithMessage, 1, echo),
                             MakeFrame(FrameType::kCallStart, kFlagWithMessage, 3, slept)};
  auto got = Exchange(*conn, frames);
  // The PING is answered by the reader thread, possibly before the pool's reply: wait
  // for the Sleep's reply separately if it is not here yet.
  while (got.size() < 2) {
    absl::StatusOr<Frame> f = conn->Receive(deadline_);
    ASSERT_TRUE(f.ok()) << f.status();
    got.emplace_back(f->header, std::string(f->payload));
  }
  ASSERT_EQ(got.size(), 2u);
  for (const auto& [h, payload] : got) {
    EXPECT_EQ(h.type, FrameType::kMessage) << h.call_id;
    EXPECT_EQ(h.flags, kFlagEndOfCall) << h.call_id;
    if (h.call_id == 1) {
      EXPECT_EQ(ReplyPayload(payload), "one frame");
    }
  }
  EXPECT_NE(got[0].first.call_id, got[1].first.call_id);
  EXPECT_EQ(service_.SleepOutcome("pool", absl::Seconds(5)), std::optional<bool>(false));
  // Nothing else follows for either call.
  EXPECT_TRUE(Exchange(*conn, {}).empty());
  conn->Close();
}

TEST_F(UnaryFramesServer, TrailersAndErrorsStillEndWithCallEnd) {
  auto conn = ConnectWithFeatures(kFeatureUnaryFrames);
  ASSERT_NE(conn, nullptr);
  const std::string with_trailer = Start(kEcho, {{"x-echo", "t"}}) + EchoBody("trailed");
  FailRequest fail;
  fail.set_code(static_cast<int>(absl::StatusCode::kNotFound));
  fail.set_message("no such key");
  const std::string failing = Start(kFail) + Serialized(fail);
  const std::string unknown = Start("/no.Such/Method") + EchoBody("x");
  const OutFrame frames[] = {MakeFrame(FrameType::kCallStart, kFlagWithMessage, 1, with_trailer),
                             MakeFrame(FrameType::kCallStart, kFlagWithMessage, 3, failing),
                             MakeFrame(FrameType::kCallStart, kFlagWithMessage, 5, unknown)};
  auto got = Exchange(*conn, frames);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].first.type, FrameType::kMessage);
  EXPECT_EQ(got[0].first.flags, 0);
  EXPECT_EQ(ReplyPayload(got[0].second), "trailed");
  CallEndView end;
  ASSERT_EQ(got[1].first.type, FrameType::kCallEnd);
  ASSERT_TRUE(DecodeCallEnd(got[1].second, &end).ok());
  EXPECT_EQ(end.code, absl::StatusCode::kOk);
  ASSERT_EQ(end.trailers.size(), 1u);
  EXPECT_EQ(end.trailers[0].first, "x-echo-trailer");
  ASSERT_EQ(got[2].first.type, FrameType::kCallEnd);
  EXPECT_EQ(got[2].first.call_id, 3u);
  ASSERT_TRUE(DecodeCallEnd(got[2].second, &end).ok());
  EXPECT_EQ(end.code, absl::StatusCode::kNotFound);
  EXPECT_EQ(end.message, "no such key");
  ASSERT_EQ(got[3].first.type, FrameType::kCallEnd);
  EXPECT_EQ(got[3].first.call_id, 5u);
  ASSERT_TRUE(DecodeCallEnd(got[3].second, &end).ok());
  EXPECT_EQ(end.code, absl::StatusCode::kUnimplemented);
  conn->Close();
}

TEST_F(UnaryFramesServer, LimitsHoldForTheMessageInsideCallStart) {
  auto conn = ConnectWithFeatures(kFeatureUnaryFrames);
  ASSERT_NE(conn, nullptr);
  // The server's max receive size is 1 KiB: a 2 KiB request inside CALL_START is
  // refused as it would be in its own MESSAGE. A request that does not decode is refused
  // as INVALID_ARGUMENT.
  const std::string big = Start(kEcho) + EchoBody(std::string(2048, 'x'));
  const std::string garbage = Start(kEcho) + std::string("\xff\xff\xff", 3);
  const OutFrame frames[] = {MakeFrame(FrameType::kCallStart, kFlagWithMessage, 1, big),
                             MakeFrame(FrameType::kCallStart, kFlagWithMessage, 3, garbage)};
  auto got = Exchange(*conn, frames);
  ASSERT_EQ(got.size(), 2u);
  const absl::StatusCode want[] = {absl::StatusCode::kResourceExhausted,
                                   absl::StatusCode::kInvalidArgument};
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].first.type, FrameType::kCallEnd) << i;
    EXPECT_EQ(got[i].first.call_id, 2 * i + 1);
    CallEndView end;
    ASSERT_TRUE(DecodeCallEnd(got[i].second, &end).ok());
    EXPECT_EQ(end.code, want[i]) << i << ": " << end.message;
  }
  // The connection still serves.
  const std::string ok = Start(kEcho) + EchoBody("after");
  const OutFrame again = MakeFrame(FrameType::kCallStart, kFlagWithMessage, 7, ok);
  got = Exchange(*conn, {&again, 1});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first.flags, kFlagEndOfCall);
  EXPECT_EQ(ReplyPayload(got[0].second), "after");
  conn->Close();

  // With a 1 MiB limit, a frame may be large enough for a call-start part above 64 KiB:
  // refused (RESOURCE_EXHAUSTED) as a plain CALL_START's would be, even with a message.
  ServerOptions options;
  options.max_receive_message_size = 1 << 20;
  StartServer(options);
  conn = ConnectWithFeatures(kFeatureUnaryFrames);
  ASSERT_NE(conn, nullptr);
  const std::string huge_md = Start(kEcho, {{"x-big", std::string(70 << 10, 'm')}}) +
                              EchoBody("small");
  const OutFrame huge = MakeFrame(FrameType::kCallStart, kFlagWithMessage, 1, huge_md);
  got = Exchange(*conn, {&huge, 1});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].first.type, FrameType::kCallEnd);
  CallEndView end;
  ASSERT_TRUE(DecodeCallEnd(got[0].second, &end).ok());
  EXPECT_EQ(end.code, absl::StatusCode::kResourceExhausted) << end.message;
  conn->Close();
}

TEST_F(UnaryFramesServer, EndOfCallFromAClientIsAProtocolError) {
  auto conn = ConnectWithFeatures(kFeatureUnaryFrames);
  ASSERT_NE(conn, nullptr);
  const std::string start = Start(kEcho), body = EchoBody("x");
  const OutFrame frames[] = {MakeFrame(FrameType::kCallStart, 0, 1, start),
                             MakeFrame(FrameType::kMessage, kFlagEndOfCall, 1, body)};
  ASSERT_TRUE(conn->Send(frames, deadline_).ok());
  bool goaway = false;
  for (;;) {
    absl::StatusOr<Frame> f = conn->Receive(deadline_);
    if (!f.ok()) {
      EXPECT_EQ(f.status().code(), absl::StatusCode::kUnavailable) << f.status();
      break;
    }
    EXPECT_NE(f->header.type, FrameType::kMessage) << "the call ran";
    if (f->header.type == FrameType::kGoAway) {
      absl::StatusOr<GoAwayPayload> g = DecodeGoAway(f->payload);
      ASSERT_TRUE(g.ok());
      EXPECT_EQ(g->code, absl::StatusCode::kInvalidArgument) << g->message;
      goaway = true;
    }
  }
  EXPECT_TRUE(goaway);
  conn->Close();
  // Other clients are served as before.
  auto other = ConnectWithFeatures(kFeatureUnaryFrames);
  ASSERT_NE(other, nullptr);
  const std::string ok = Start(kEcho) + EchoBody("still");
  const OutFrame f = MakeFrame(FrameType::kCallStart, kFlagWithMessage, 1, ok);
  auto got = Exchange(*other, {&f, 1});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(ReplyPayload(got[0].second), "still");
  other->Close();
}

// A raw server on the other side of a real Channel: what the client sends depends on the
// server's HELLO.
class RawServer {
 public:
  RawServer(std::shared_ptr<const TransportRegistry> registry, std::string address,
            std::string hello_ack)
      : hello_ack_(std::move(hello_ack)) {
    absl::StatusOr<Address> a = Address::Parse(address);
    EXPECT_TRUE(a.ok());
    auto l = registry->Find("inproc")->Listen(*a, ConnectionLimits{});
    EXPECT_TRUE(l.ok()) << l.status();
    listener_ = *std::move(l);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawServer() {
    listener_->Close();
    thread_.join();
  }
  // The frames received for calls, in order (type, flags).
  std::vector<std::pair<FrameType, uint8_t>> received() {
    thread_done_.WaitForNotificationWithTimeout(absl::Seconds(20));
    return received_;
  }

 private:
  void Serve() {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    auto conn = listener_->Accept();
    if (!conn.ok()) return;
    absl::StatusOr<Frame> hello = (*conn)->Receive(deadline);
    EXPECT_TRUE(hello.ok() && hello->header.type == FrameType::kHello);
    const OutFrame ack = MakeFrame(FrameType::kHello, kFlagAck, 0, hello_ack_);
    EXPECT_TRUE((*conn)->Send({&ack, 1}, deadline).ok());
    std::string request;
    uint32_t id = 0;
    for (bool complete = false; !complete;) {
      absl::StatusOr<Frame> f = (*conn)->Receive(deadline);
      if (!f.ok()) break;
      received_.emplace_back(f->header.type, f->header.flags);
      id = f->header.call_id;
      if (f->header.type == FrameType::kCallStart && (f->header.flags & kFlagWithMessage)) {
        CallStartView view;
        absl::string_view message;
        EXPECT_TRUE(DecodeCallStartWithMessage(f->payload, &view, &message).ok());
        request = std::string(message);
        complete = true;
      } else if (f->header.type == FrameType::kMessage) {
        request = std::string(f->payload);
        complete = (f->header.flags & kFlagEndOfStream) != 0;
      }
    }
    EchoRequest req;
    EXPECT_TRUE(req.ParseFromString(request));
    EchoReply reply;
    reply.set_payload(req.payload());
    const std::string body = Serialized(reply);
    std::string end;
    EncodeCallEnd(absl::OkStatus(), {}, &end);
    const OutFrame out[] = {MakeFrame(FrameType::kMessage, 0, id, body),
                            MakeFrame(FrameType::kCallEnd, 0, id, end)};
    EXPECT_TRUE((*conn)->Send(out, deadline).ok());
    thread_done_.Notify();
    // Hold the connection until the client is done with it.
    while ((*conn)->Receive(deadline).ok()) {
    }
    (*conn)->Close();
  }

  const std::string hello_ack_;
  std::unique_ptr<Listener> listener_;
  std::thread thread_;
  absl::Notification thread_done_;
  std::vector<std::pair<FrameType, uint8_t>> received_;
};

absl::StatusOr<std::string> EchoThrough(std::shared_ptr<const TransportRegistry> registry,
                                        const std::string& address) {
  auto channel = Channel::Create(address, registry);
  if (!channel.ok()) return channel.status();
  Conformance::Stub stub(*channel);
  ClientContext ctx;
  ctx.set_timeout(absl::Seconds(10));
  EchoRequest req;
  req.set_payload("through");
  absl::StatusOr<EchoReply> r = stub.Echo(ctx, req);
  if (!r.ok()) return r.status();
  return r->payload();
}

TEST(UnaryFramesClient, SendsTwoFramesToAServerThatPredatesFeatures) {
  auto registry = Loopback();
  std::string hello;
  EncodeHello(HelloPayload{kDefaultMaxMessageSize, 0}, &hello);
  hello.resize(4);
  RawServer server(registry, "inproc:old-server", hello);
  absl::StatusOr<std::string> r = EchoThrough(registry, "inproc:old-server");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "through");
  const std::vector<std::pair<FrameType, uint8_t>> want = {
      {FrameType::kCallStart, 0}, {FrameType::kMessage, kFlagEndOfStream}};
  EXPECT_EQ(server.received(), want);
}

TEST(UnaryFramesClient, SendsOneFrameToAServerThatOffersThem) {
  auto registry = Loopback();
  std::string hello;
  EncodeHello(HelloPayload{kDefaultMaxMessageSize, kFeatureUnaryFrames | 0x80000000u}, &hello);
  // (An unknown feature bit beside it is ignored.) The raw server answers with the two-frame
  // reply, which a client must take from any server.
  RawServer server(registry, "inproc:new-server", hello);
  absl::StatusOr<std::string> r = EchoThrough(registry, "inproc:new-server");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "through");
  const std::vector<std::pair<FrameType, uint8_t>> want = {{FrameType::kCallStart,
                                                            kFlagWithMessage}};
  EXPECT_EQ(server.received(), want);
}

}  // namespace
}  // namespace ferry::conformance
