#include "transports/loopback/loopback_transport.h"

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "transports/testing/transport_conformance.h"

namespace ferry {
namespace {

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

TransportConformanceParam LoopbackParam() {
  TransportConformanceParam p;
  p.name = "Loopback";
  p.make_transport = [] { return std::make_unique<LoopbackTransport>(); };
  p.listen_address = [](const std::string& dir) {
    // The scratch directory's name is unique per test: reuse it as the inproc name.
    return "inproc:" + dir.substr(dir.rfind('/') + 1);
  };
  p.raw_skip_reason = "loopback carries whole frames; there is no byte stream to cut a frame in";
  return p;
}

INSTANTIATE_TEST_SUITE_P(Loopback, TransportConformanceTest, ::testing::Values(LoopbackParam()),
                         TransportConformanceName);

// ---- Fault injection and naming ---------------------------------------------------------

struct Ends {
  std::unique_ptr<Listener> listener;
  std::unique_ptr<Connection> client;
  std::unique_ptr<Connection> server;
};
Ends Connect(LoopbackTransport& t, const std::string& name) {
  Ends e;
  const Address addr = *Address::Parse("inproc:" + name);
  auto listener = t.Listen(addr, {});
  EXPECT_TRUE(listener.ok()) << listener.status();
  auto client = t.Connect(addr, {}, Soon());
  EXPECT_TRUE(client.ok()) << client.status();
  auto server = (*listener)->Accept();
  EXPECT_TRUE(server.ok()) << server.status();
  e.listener = *std::move(listener);
  e.client = *std::move(client);
  e.server = *std::move(server);
  return e;
}

absl::Status SendOne(Connection& c, uint32_t call_id, absl::string_view payload) {
  OutFrame f = MakeFrame(FrameType::kMessage, 0, call_id, payload);
  return c.Send({&f, 1}, Soon());
}

TEST(LoopbackTransportTest, DropAfterFramesBreaksTheConnection) {
  LoopbackTransport::Options o;
  o.drop_after_frames = 3;
  LoopbackTransport t(o);
  Ends e = Connect(t, "drop");
  ASSERT_TRUE(SendOne(*e.client, 1, "c0").ok());   // frame 0
  ASSERT_TRUE(SendOne(*e.server, 1, "s1").ok());   // frame 1
  ASSERT_TRUE(SendOne(*e.client, 1, "c2").ok());   // frame 2: the last one
  absl::Status s = SendOne(*e.client, 1, "c3");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "fault injection")) << s;
  EXPECT_EQ(SendOne(*e.server, 1, "s4").code(), absl::StatusCode::kUnavailable);
  // Frames sent before the drop are still delivered, then UNAVAILABLE.
  absl::StatusOr<Frame> f = e.server->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->payload, "c0");
  f = e.server->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->payload, "c2");
  EXPECT_EQ(e.server->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  f = e.client->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->payload, "s1");
  EXPECT_EQ(e.client->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
}

TEST(LoopbackTransportTest, DropInsideOneSendQueuesTheFramesUpToTheLimit) {
  LoopbackTransport::Options o;
  o.drop_after_frames = 2;
  LoopbackTransport t(o);
  Ends e = Connect(t, "drop-batch");
  std::vector<OutFrame> frames = {MakeFrame(FrameType::kMessage, 0, 1, "a"),
                                  MakeFrame(FrameType::kMessage, 0, 1, "b"),
                                  MakeFrame(FrameType::kMessage, 0, 1, "c")};
  EXPECT_EQ(e.client->Send(frames, Soon()).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(e.server->Receive(Soon())->payload, "a");
  EXPECT_EQ(e.server->Receive(Soon())->payload, "b");
  EXPECT_EQ(e.server->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
}

TEST(LoopbackTransportTest, DeliveryDelayHoldsFramesBack) {
  LoopbackTransport::Options o;
  o.delivery_delay = absl::Milliseconds(150);
  LoopbackTransport t(o);
  Ends e = Connect(t, "delay");
  const absl::Time sent = absl::Now();
  ASSERT_TRUE(SendOne(*e.client, 1, "first").ok());
  ASSERT_TRUE(SendOne(*e.client, 2, "second").ok());
  // Sent, but not yet visible.
  EXPECT_EQ(e.server->Receive(absl::Now() + absl::Milliseconds(20)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  absl::StatusOr<Frame> f = e.server->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_GE(absl::Now() - sent, absl::Milliseconds(150));
  EXPECT_EQ(f->payload, "first");
  f = e.server->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->payload, "second");
}

TEST(LoopbackTransportTest, CorruptFrameIsInvalidArgumentAndSticks) {
  LoopbackTransport::Options o;
  o.corrupt_frame = 1;
  LoopbackTransport t(o);
  Ends e = Connect(t, "corrupt");
  ASSERT_TRUE(SendOne(*e.client, 1, "fine").ok());
  ASSERT_TRUE(SendOne(*e.client, 1, "mangled").ok());
  ASSERT_TRUE(SendOne(*e.client, 1, "after").ok());
  absl::StatusOr<Frame> f = e.server->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->payload, "fine");
  EXPECT_EQ(e.server->Receive(Soon()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.server->Receive(Soon()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LoopbackTransportTest, TransportsDoNotShareNames) {
  LoopbackTransport a, b;
  const Address addr = *Address::Parse("inproc:shared-name");
  auto la = a.Listen(addr, {});
  ASSERT_TRUE(la.ok());
  // Another transport object has its own namespace: nobody listens there...
  EXPECT_EQ(b.Connect(addr, {}, Soon()).status().code(), absl::StatusCode::kUnavailable);
  // ...and the name is free in it.
  EXPECT_TRUE(b.Listen(addr, {}).ok());
}

TEST(LoopbackTransportTest, ListenerAndConnectionsOutliveTheTransport) {
  std::unique_ptr<Listener> listener;
  std::unique_ptr<Connection> client, server;
  {
    LoopbackTransport t;
    Ends e = Connect(t, "outlive");
    listener = std::move(e.listener);
    client = std::move(e.client);
    server = std::move(e.server);
  }
  ASSERT_TRUE(SendOne(*client, 1, "still here").ok());
  EXPECT_EQ(server->Receive(Soon())->payload, "still here");
  listener->Close();
  EXPECT_EQ(listener->Accept().status().code(), absl::StatusCode::kUnavailable);
}

TEST(LoopbackTransportTest, UnacceptedConnectionsAreClosedWithTheListener) {
  LoopbackTransport t;
  const Address addr = *Address::Parse("inproc:backlog");
  auto listener = t.Listen(addr, {});
  ASSERT_TRUE(listener.ok());
  auto client = t.Connect(addr, {}, Soon());
  ASSERT_TRUE(client.ok());
  (*listener)->Close();
  EXPECT_EQ((*client)->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SendOne(**client, 1, "x").code(), absl::StatusCode::kUnavailable);
}

TEST(LoopbackTransportTest, SmallBufferBlocksUntilTheReaderCatchesUp) {
  LoopbackTransport::Options o;
  o.buffer_bytes = 1000;
  LoopbackTransport t(o);
  Ends e = Connect(t, "buffer");
  const std::string chunk(600, 'k');
  ASSERT_TRUE(SendOne(*e.client, 1, chunk).ok());  // an empty direction takes anything
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, chunk);
  EXPECT_EQ(e.client->Send({&f, 1}, absl::Now() + absl::Milliseconds(30)).code(),
            absl::StatusCode::kDeadlineExceeded);
  std::thread reader([&] {
    absl::SleepFor(absl::Milliseconds(30));
    EXPECT_TRUE(e.server->Receive(Soon()).ok());
  });
  EXPECT_TRUE(e.client->Send({&f, 1}, Soon()).ok());
  reader.join();
  EXPECT_EQ(e.server->Receive(Soon())->payload, chunk);
}

}  // namespace
}  // namespace ferry
