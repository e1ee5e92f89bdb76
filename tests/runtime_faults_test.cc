// Runtime behaviour under injected faults and misuse, over the in-process loopback
// transport (no sockets): connections that die mid-call, corrupt frames, slow delivery,
// bad configuration, cancellation races, channels destroyed with calls in flight.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "runtime/channel.h"
#include "runtime/frame.h"
#include "runtime/server.h"
#include "tests/conformance/conformance_service.h"
#include "transports/loopback/loopback_transport.h"

namespace ferry::conformance {
namespace {

std::shared_ptr<const TransportRegistry> Loopback(const LoopbackTransport::Options& options) {
  auto registry = std::make_shared<TransportRegistry>();
  EXPECT_TRUE(registry->Register(std::make_unique<LoopbackTransport>(options)).ok());
  return registry;
}

struct Rig {
  ConformanceService service;
  std::unique_ptr<Server> server;
  std::shared_ptr<Channel> channel;
  std::unique_ptr<Conformance::Stub> stub;

  explicit Rig(const LoopbackTransport::Options& options = {}) {
    auto registry = Loopback(options);
    auto s = ServerBuilder(registry)
                 .AddListeningAddress("inproc:faults")
                 .RegisterService(&service, HandlerThread::kInline)
                 .SetMethodThread("/ferry.conformance.Conformance/Sleep", HandlerThread::kPool)
                 .BuildAndStart();
    EXPECT_TRUE(s.ok()) << s.status();
    server = *std::move(s);
    channel = *Channel::Create("inproc:faults", registry);
    stub = std::make_unique<Conformance::Stub>(channel);
  }
};

absl::Status Echo(Conformance::Stub& stub, absl::Duration timeout = absl::Seconds(10)) {
  ClientContext ctx;
  ctx.set_timeout(timeout);
  EchoRequest req;
  req.set_payload("ping");
  return stub.Echo(ctx, req).status();
}

TEST(RuntimeFaults, ConnectionLostAfterTheRequestIsUnavailableNotAHang) {
  // Frames per connection: 2 HELLOs, then CALL_START carrying the request (the one-frame
  // unary form, docs/wire-format.md); the reply never comes.
  LoopbackTransport::Options o;
  o.drop_after_frames = 3;
  Rig rig(o);
  const absl::Time start = absl::Now();
  for (int i = 0; i < 3; ++i) {
    absl::Status s = Echo(*rig.stub, absl::Seconds(30));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(RuntimeFaults, CorruptReplyFailsTheCallAndTheNextCallReconnects) {
  LoopbackTransport::Options o;
  o.corrupt_frame = 3;  // (from 0: HELLO, HELLO ack, CALL_START) the first call's reply
  Rig rig(o);
  absl::Status first = Echo(*rig.stub);
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  EXPECT_TRUE(absl::StrContains(first.message(), "magic")) << first;
  // A new connection is made for the next call (and its first reply is corrupted too).
  EXPECT_EQ(Echo(*rig.stub).code(), absl::StatusCode::kUnavailable);
}

TEST(RuntimeFaults, SlowDeliveryMeetsTheDeadline) {
  LoopbackTransport::Options o;
  o.delivery_delay = absl::Milliseconds(300);
  Rig rig(o);
  ASSERT_TRUE(Echo(*rig.stub).ok());  // connects (slowly)
  const absl::Time start = absl::Now();
  // Without the deadline the call would succeed once the delayed reply arrives, so the
  // code alone proves the deadline fired; the time bound only rules out a hang (machines
  // here are shared, so no tighter timing is asserted).
  EXPECT_EQ(Echo(*rig.stub, absl::Milliseconds(50)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The late reply of the expired call is ignored; the connection keeps working.
  EXPECT_TRUE(Echo(*rig.stub).ok());
}

TEST(RuntimeFaults, BadAddressesAndUnknownSchemesAreInvalidArgument) {
  auto registry = Loopback({});
  EXPECT_EQ(Channel::Create("no-scheme", registry).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status unknown = Channel::Create("carrier-pigeon://coop", registry).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(unknown.message(), "inproc")) << unknown;  // lists known ones
  EXPECT_EQ(Channel::Create("inproc:", registry).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RuntimeFaults, ServerConfigurationErrors) {
  auto registry = Loopback({});
  ConformanceService a, b;
  EXPECT_EQ(ServerBuilder(registry).RegisterService(&a).BuildAndStart().status().code(),
            absl::StatusCode::kInvalidArgument);  // no address
  EXPECT_EQ(ServerBuilder(registry)
                .AddListeningAddress("inproc:x")
                .RegisterService(&a)
                .RegisterService(&b)
                .BuildAndStart()
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);  // the same methods twice
  EXPECT_EQ(ServerBuilder(registry)
                .AddListeningAddress("inproc:x")
                .RegisterService(&a)
                .SetMethodThread("/ferry.conformance.Conformance/Nope", HandlerThread::kPool)
                .BuildAndStart()
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  auto first = ServerBuilder(registry).AddListeningAddress("inproc:taken").RegisterService(&a)
                   .BuildAndStart();
  ASSERT_TRUE(first.ok());
  // A failed build leaves nothing bound: the good address is free again afterwards.
  EXPECT_EQ(ServerBuilder(registry)
                .AddListeningAddress("inproc:free")
                .AddListeningAddress("inproc:taken")
                .RegisterService(&b)
                .BuildAndStart()
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(ServerBuilder(registry).AddListeningAddress("inproc:free").RegisterService(&b)
                  .BuildAndStart()
                  .ok());
}

TEST(RuntimeFaults, NoServerIsUnavailable) {
  auto channel = Channel::Create("inproc:nobody-home", Loopback({}));
  ASSERT_TRUE(channel.ok());
  Conformance::Stub stub(*channel);
  EXPECT_EQ(Echo(stub).code(), absl::StatusCode::kUnavailable);
}

TEST(RuntimeFaults, CancelBeforeTheCallAndAfterItAreHarmless) {
  Rig rig;
  ClientContext cancelled;
  cancelled.Cancel();
  EchoRequest req;
  EXPECT_EQ(rig.stub->Echo(cancelled, req).status().code(), absl::StatusCode::kCancelled);

  ClientContext ctx;
  ASSERT_TRUE(rig.stub->Echo(ctx, req).ok());
  ctx.Cancel();  // the call is over: nothing to do
  EXPECT_TRUE(Echo(*rig.stub).ok());
}

// A sync call with no deadline, cancelled from another thread while its own thread is
// the connection's reader (blocked in Receive): the call must end CANCELLED promptly,
// not when some frame happens to arrive.
TEST(RuntimeFaults, CancellingABlockedSyncCallWakesItsThread) {
  Rig rig;
  ClientContext ctx;  // no deadline
  SleepRequest req;
  req.set_ms(10000);
  req.set_tag("sync-cancel");
  std::thread canceller([&] {
    while (rig.service.sleeping() == 0) absl::SleepFor(absl::Milliseconds(1));
    ctx.Cancel();
  });
  const absl::Time start = absl::Now();
  const absl::Status s = rig.stub->Sleep(ctx, req).status();
  canceller.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(rig.service.SleepOutcome("sync-cancel", absl::Seconds(5)), std::optional<bool>(true));
  EXPECT_TRUE(Echo(*rig.stub).ok());
}

// Transports that let control frames overtake data (mq's priorities, SysV's urgent type)
// can deliver a call's CANCEL before its CALL_START. The server must not then run the call
// as if nothing had happened: it drops it, answers nothing for it, and serves the next.
TEST(RuntimeFaults, CancelThatOvertakesItsCallStartDropsTheCall) {
  auto registry = Loopback({});
  ConformanceService service;
  auto server = ServerBuilder(registry)
                    .AddListeningAddress("inproc:early-cancel")
                    .RegisterService(&service, HandlerThread::kInline)
                    .SetMethodThread("/ferry.conformance.Conformance/Sleep", HandlerThread::kPool)
                    .BuildAndStart();
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<Address> address = Address::Parse("inproc:early-cancel");
  ASSERT_TRUE(address.ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<Connection>> conn =
      registry->Find("inproc")->Connect(*address, ConnectionLimits{}, deadline);
  ASSERT_TRUE(conn.ok()) << conn.status();

  std::string hello;
  EncodeHello(HelloPayload{}, &hello);
  const OutFrame hello_frame = MakeFrame(FrameType::kHello, 0, 0, hello);
  ASSERT_TRUE((*conn)->Send({&hello_frame, 1}, deadline).ok());
  absl::StatusOr<Frame> ack = (*conn)->Receive(deadline);
  ASSERT_TRUE(ack.ok()) << ack.status();
  ASSERT_EQ(ack->header.type, FrameType::kHello);

  // Call 7 (a Sleep the service would record under "early"): CANCEL first. Then call 9.
  std::string sleep_start, echo_start, sleep_body, echo_body;
  EncodeCallStart("/ferry.conformance.Conformance/Sleep", kNoDeadline, {}, &sleep_start);
  EncodeCallStart("/ferry.conformance.Conformance/Echo", kNoDeadline, {}, &echo_start);
  SleepRequest sleep;
  sleep.set_ms(20);
  sleep.set_tag("early");
  ASSERT_TRUE(sleep.SerializeToString(&sleep_body));
  EchoRequest echo;
  echo.set_payload("after");
  ASSERT_TRUE(echo.SerializeToString(&echo_body));
  const OutFrame frames[] = {
      MakeFrame(FrameType::kCancel, 0, 7, {}),
      MakeFrame(FrameType::kCallStart, 0, 7, sleep_start),
      MakeFrame(FrameType::kMessage, kFlagEndOfStream, 7, sleep_body),
      MakeFrame(FrameType::kCallStart, 0, 9, echo_start),
      MakeFrame(FrameType::kMessage, kFlagEndOfStream, 9, echo_body),
  };
  ASSERT_TRUE((*conn)->Send(frames, deadline).ok());

  bool echo_ended = false;
  while (!echo_ended) {
    absl::StatusOr<Frame> f = (*conn)->Receive(deadline);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_NE(f->header.call_id, 7u) << "the server answered the cancelled call with "
                                     << FrameTypeName(f->header.type);
    if (f->header.call_id == 9 && f->header.type == FrameType::kMessage) {
      EchoReply reply;
      ASSERT_TRUE(reply.ParseFromArray(f->payload.data(), static_cast<int>(f->payload.size())));
      EXPECT_EQ(reply.payload(), "after");
    }
    echo_ended = f->header.call_id == 9 && f->header.type == FrameType::kCallEnd;
  }
  // The Sleep handler never ran (it would have recorded an outcome after 20 ms).
  EXPECT_EQ(service.SleepOutcome("early", absl::Milliseconds(300)), std::nullopt);
  EXPECT_EQ(service.sleeping(), 0);
  // A later call with a new id is served as usual.
  const OutFrame again[] = {MakeFrame(FrameType::kCallStart, 0, 11, echo_start),
                            MakeFrame(FrameType::kMessage, kFlagEndOfStream, 11, echo_body)};
  ASSERT_TRUE((*conn)->Send(again, deadline).ok());
  absl::StatusOr<Frame> reply = (*conn)->Receive(deadline);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->header.call_id, 11u);
  EXPECT_EQ(reply->header.type, FrameType::kMessage);
  (*conn)->Close();
}

TEST(RuntimeFaults, CancelRacingWithCompletionNeverLosesTheCallback) {
  Rig rig;
  constexpr int kCalls = 300;
  std::vector<std::unique_ptr<ClientContext>> contexts;
  absl::BlockingCounter left(kCalls);
  std::atomic<int> ok{0}, cancelled{0}, other{0};
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(std::make_unique<ClientContext>());
    EchoRequest req;
    req.set_payload(std::to_string(i));
    rig.stub->EchoAsync(*contexts.back(), req, [&](absl::StatusOr<EchoReply> r) {
      if (r.ok()) {
        ++ok;
      } else if (r.status().code() == absl::StatusCode::kCancelled) {
        ++cancelled;
      } else {
        ++other;
      }
      left.DecrementCount();
    });
    if (i % 2 == 0) contexts.back()->Cancel();
  }
  left.Wait();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok.load() + cancelled.load(), kCalls);
  EXPECT_GE(cancelled.load(), 1);
}

// Cancel() completes an async call on the cancelling thread, whose callback frees the
// context (as its owner may, once the callback has run): Cancel() must not touch the
// context afterwards (ASan), nor wait for itself.
TEST(RuntimeFaults, CancelWhoseCallbackFreesTheContext) {
  Rig rig;
  constexpr int kCalls = 200;
  absl::BlockingCounter left(kCalls);
  std::atomic<int> cancelled{0}, ok{0}, other{0};
  for (int i = 0; i < kCalls; ++i) {
    auto* ctx = new ClientContext;
    SleepRequest req;
    req.set_ms(i % 2 == 0 ? 200 : 0);  // half are surely in flight when cancelled
    rig.stub->SleepAsync(*ctx, req, [&, ctx](absl::StatusOr<SleepReply> r) {
      (r.ok() ? ok : r.status().code() == absl::StatusCode::kCancelled ? cancelled : other)++;
      delete ctx;
      left.DecrementCount();
    });
    if (i % 2 == 0) ctx->Cancel();  // may run the callback (and free ctx) right here
  }
  left.Wait();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(cancelled.load(), kCalls / 2);
  EXPECT_EQ(ok.load(), kCalls / 2);
}

// Sync calls cancelled from another thread at arbitrary points, also while the calling
// thread unbinds its context as the call ends: every call ends OK or CANCELLED, none
// hangs, nothing touches a finished call's connection or context (ASan, TSan).
TEST(RuntimeFaults, CancelFromAnotherThreadRacesWithTheEndOfSyncCalls) {
  Rig rig;
  std::mutex mu;  // the test's own lifetime rule: a context is freed only under mu
  ClientContext* current = nullptr;
  std::atomic<bool> stop{false};
  std::thread canceller([&] {
    while (!stop.load()) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (current != nullptr) {
          current->Cancel();
          current = nullptr;
        }
      }
      std::this_thread::yield();
    }
  });
  int ok = 0, exposed_ok = 0;
  for (int i = 0; i < 2000; ++i) {
    auto ctx = std::make_unique<ClientContext>();
    ctx->set_timeout(absl::Seconds(10));
    const bool exposed = i % 4 != 0;  // the rest must simply succeed
    if (exposed) {
      std::lock_guard<std::mutex> lock(mu);
      current = ctx.get();
    }
    EchoRequest req;
    req.set_payload("race");
    absl::Status s = rig.stub->Echo(*ctx, req).status();
    if (s.ok()) {
      ++ok;
      if (exposed) ++exposed_ok;
    } else {
      ASSERT_TRUE(exposed) << s;
      ASSERT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
    }
    std::lock_guard<std::mutex> lock(mu);
    current = nullptr;  // ctx is freed after this, with the canceller out of Cancel()
  }
  stop.store(true);
  canceller.join();
  EXPECT_EQ(ok - exposed_ok, 500);  // every unexposed call
  std::printf("exposed calls: %d of 1500 completed before their Cancel()\n", exposed_ok);
  EXPECT_EQ(Echo(*rig.stub), absl::OkStatus());
}

TEST(RuntimeFaults, DestroyingTheChannelEndsAsyncCallsInFlight) {
  Rig rig;
  ClientContext ctx;
  SleepRequest req;
  req.set_ms(5000);
  absl::Notification done;
  absl::Status status;
  rig.stub->SleepAsync(ctx, req, [&](absl::StatusOr<SleepReply> r) {
    status = r.status();
    done.Notify();
  });
  while (rig.service.sleeping() == 0) absl::SleepFor(absl::Milliseconds(1));
  rig.stub.reset();
  rig.channel.reset();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
}

TEST(RuntimeFaults, ShutdownCancelsHandlersThatOutliveItsDeadline) {
  Rig rig;
  ClientContext ctx;
  SleepRequest req;
  req.set_ms(20000);
  req.set_tag("outlived");
  absl::Notification done;
  absl::Status status;
  rig.stub->SleepAsync(ctx, req, [&](absl::StatusOr<SleepReply> r) {
    status = r.status();
    done.Notify();
  });
  while (rig.service.sleeping() == 0) absl::SleepFor(absl::Milliseconds(1));
  const absl::Time start = absl::Now();
  rig.server->Shutdown(absl::Now() + absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(rig.service.SleepOutcome("outlived", absl::Seconds(1)), std::optional<bool>(true));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

}  // namespace
}  // namespace ferry::conformance
