// Calls generated stubs against generated services through a real server and channel over
// the in-process loopback transport: blocking and async calls, errors, and renamed methods
// whose stubs must still use the proto's wire paths.
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "codegen/testdata/basic.ferry.h"
#include "codegen/testdata/clashes.ferry.h"
#include "codegen/testdata/no_package.ferry.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "runtime/channel.h"
#include "runtime/context.h"
#include "runtime/server.h"
#include "transports/loopback/loopback_transport.h"
#include "transports/transport.h"

namespace {

using ::ferry::test::basic::Envelope;
using ::ferry::test::basic::Envelope_Payload;
using ::ferry::test::basic::GreetReply;
using ::ferry::test::basic::GreetRequest;
using ::ferry::test::basic::Greeter;
using ::ferry::test::clash::Msg;

class GreeterImpl : public Greeter::Service {
 public:
  absl::Status Greet(ferry::ServerContext& ctx, const GreetRequest& request,
                     GreetReply* response) override {
    if (request.name() == "nobody") return absl::NotFoundError("no such person");
    response->set_greeting(absl::StrCat("hello, ", request.name(), " via ", ctx.method()));
    return absl::OkStatus();
  }
  absl::Status Now(ferry::ServerContext&, const google::protobuf::Empty&,
                   google::protobuf::Timestamp* response) override {
    response->set_seconds(1700000000);
    return absl::OkStatus();
  }
  absl::Status Wrap(ferry::ServerContext&, const Envelope_Payload& request,
                    Envelope* response) override {
    *response->mutable_payload() = request;
    response->set_priority(3);
    return absl::OkStatus();
  }
};

// Handlers answer with their C++ name, so the client sees which one its call reached.
#define FERRY_TEST_HANDLER(name)                                                         \
  absl::Status name(ferry::ServerContext&, const Msg& request, Msg* response) override { \
    response->set_text(absl::StrCat(#name, "(", request.text(), ")"));                    \
    return absl::OkStatus();                                                               \
  }

class KeywordsImpl : public ferry::test::clash::Keywords::Service {
  FERRY_TEST_HANDLER(delete_)
  FERRY_TEST_HANDLER(class_)
  FERRY_TEST_HANDLER(new_)
  FERRY_TEST_HANDLER(and_)
};

class MembersImpl : public ferry::test::clash::Members::Service {
  FERRY_TEST_HANDLER(GetAsync_)
  FERRY_TEST_HANDLER(Get)
  FERRY_TEST_HANDLER(ferry_dispatch_)
  FERRY_TEST_HANDLER(Members_)
};

#undef FERRY_TEST_HANDLER

class GlobalImpl : public ::Global::Service {
  absl::Status Get(ferry::ServerContext&, const ::GlobalRequest& request,
                   ::GlobalReply* response) override {
    response->set_text(absl::StrCat("global ", request.text()));
    return absl::OkStatus();
  }
};

class StubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto registry = std::make_shared<ferry::TransportRegistry>();
    ASSERT_TRUE(registry->Register(std::make_unique<ferry::LoopbackTransport>()).ok());
    absl::StatusOr<std::unique_ptr<ferry::Server>> server =
        ferry::ServerBuilder(registry)
            .AddListeningAddress("inproc:codegen-stub-test")
            .RegisterService(&greeter_)
            .RegisterService(&keywords_)
            .RegisterService(&members_)
            .RegisterService(&global_)
            .BuildAndStart();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    absl::StatusOr<std::shared_ptr<ferry::Channel>> channel =
        ferry::Channel::Create("inproc:codegen-stub-test", registry);
    ASSERT_TRUE(channel.ok()) << channel.status();
    channel_ = *std::move(channel);
  }

  void TearDown() override {
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown(absl::Now() + absl::Seconds(5));
  }

  // A context with a deadline, so a broken call fails the test instead of hanging it.
  static std::unique_ptr<ferry::ClientContext> Context() {
    auto ctx = std::make_unique<ferry::ClientContext>();
    ctx->set_timeout(absl::Seconds(10));
    return ctx;
  }

  GreeterImpl greeter_;
  KeywordsImpl keywords_;
  MembersImpl members_;
  GlobalImpl global_;
  std::unique_ptr<ferry::Server> server_;
  std::shared_ptr<ferry::Channel> channel_;
};

TEST_F(StubTest, BlockingCallReturnsTheReply) {
  Greeter::Stub stub(channel_);
  GreetRequest request;
  request.set_name("ada");
  absl::StatusOr<GreetReply> reply = stub.Greet(*Context(), request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->greeting(), "hello, ada via /ferry.test.basic.Greeter/Greet");
}

TEST_F(StubTest, BlockingCallReturnsTheHandlersError) {
  Greeter::Stub stub(channel_);
  GreetRequest request;
  request.set_name("nobody");
  EXPECT_EQ(stub.Greet(*Context(), request).status(), absl::NotFoundError("no such person"));
  absl::StatusOr<GreetReply> unimplemented = stub.NotOverridden(*Context(), request);
  EXPECT_EQ(unimplemented.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(unimplemented.status().message(),
            "method /ferry.test.basic.Greeter/NotOverridden is not implemented");
}

TEST_F(StubTest, BlockingCallIntoACallerOwnedReplyReusesIt) {
  Greeter::Stub stub(channel_);
  GreetRequest request;
  GreetReply reply;
  for (const char* name : {"ada", "grace", "al"}) {
    request.set_name(name);
    ASSERT_EQ(stub.Greet(*Context(), request, &reply), absl::OkStatus());
    // Each call replaces the previous reply whole (no leftovers from a longer one).
    EXPECT_EQ(reply.greeting(),
              absl::StrCat("hello, ", name, " via /ferry.test.basic.Greeter/Greet"));
  }
  request.set_name("nobody");
  EXPECT_EQ(stub.Greet(*Context(), request, &reply), absl::NotFoundError("no such person"));
}

TEST_F(StubTest, WellKnownAndNestedTypesTravel) {
  Greeter::Stub stub(channel_);
  absl::StatusOr<google::protobuf::Timestamp> now = stub.Now(*Context(), {});
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->seconds(), 1700000000);
  Envelope_Payload payload;
  payload.set_data("bytes");
  absl::StatusOr<Envelope> envelope = stub.Wrap(*Context(), payload);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->payload().data(), "bytes");
  EXPECT_EQ(envelope->priority(), 3);
}

TEST_F(StubTest, AsyncCallDeliversTheReplyOrTheError) {
  Greeter::Stub stub(channel_);
  std::unique_ptr<ferry::ClientContext> ok_ctx = Context();
  std::unique_ptr<ferry::ClientContext> error_ctx = Context();
  GreetRequest ok_request;
  ok_request.set_name("bob");
  GreetRequest error_request;
  error_request.set_name("nobody");
  absl::StatusOr<GreetReply> ok_reply;
  absl::StatusOr<GreetReply> error_reply;
  absl::Notification ok_done;
  absl::Notification error_done;
  stub.GreetAsync(*ok_ctx, ok_request, [&](absl::StatusOr<GreetReply> reply) {
    ok_reply = std::move(reply);
    ok_done.Notify();
  });
  stub.GreetAsync(*error_ctx, error_request, [&](absl::StatusOr<GreetReply> reply) {
    error_reply = std::move(reply);
    error_done.Notify();
  });
  ASSERT_TRUE(ok_done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  ASSERT_TRUE(error_done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  ASSERT_TRUE(ok_reply.ok()) << ok_reply.status();
  EXPECT_EQ(ok_reply->greeting(), "hello, bob via /ferry.test.basic.Greeter/Greet");
  EXPECT_EQ(error_reply.status(), absl::NotFoundError("no such person"));
}

TEST_F(StubTest, ManyAsyncCallsEachGetTheirOwnReplyOnce) {
  constexpr int kCalls = 200;
  Greeter::Stub stub(channel_);
  std::vector<std::unique_ptr<ferry::ClientContext>> contexts;
  absl::BlockingCounter remaining(kCalls);
  absl::Mutex mu;
  std::vector<std::string> greetings(kCalls);
  std::vector<int> completions(kCalls, 0);
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(Context());
    GreetRequest request;
    request.set_name(absl::StrCat("n", i));
    stub.GreetAsync(*contexts.back(), request, [&, i](absl::StatusOr<GreetReply> reply) {
      {
        absl::MutexLock lock(&mu);
        ++completions[i];
        greetings[i] = reply.ok() ? reply->greeting() : reply.status().ToString();
      }
      remaining.DecrementCount();
    });
  }
  remaining.Wait();
  absl::MutexLock lock(&mu);
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(completions[i], 1) << i;
    EXPECT_EQ(greetings[i], absl::StrCat("hello, n", i, " via /ferry.test.basic.Greeter/Greet"));
  }
}

TEST_F(StubTest, RenamedStubMethodsCallTheProtoPaths) {
  ferry::test::clash::Keywords::Stub keywords(channel_);
  ferry::test::clash::Members::Stub members(channel_);
  Msg request;
  request.set_text("x");

  absl::StatusOr<Msg> reply = keywords.delete_(*Context(), request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "delete_(x)");
  reply = keywords.and_(*Context(), request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "and_(x)");
  reply = members.GetAsync_(*Context(), request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "GetAsync_(x)");
  reply = members.ferry_dispatch_(*Context(), request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "ferry_dispatch_(x)");
  reply = members.Members_(*Context(), request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "Members_(x)");
  // Not overridden by MembersImpl: the server's default body names the proto path.
  reply = members.kServiceName_(*Context(), request);
  EXPECT_EQ(reply.status().message(),
            "method /ferry.test.clash.Members/kServiceName is not implemented");

  // GetAsync is Get's async call; GetAsync_Async is the async call of rpc GetAsync.
  std::unique_ptr<ferry::ClientContext> get_ctx = Context();
  std::unique_ptr<ferry::ClientContext> get_async_ctx = Context();
  absl::StatusOr<Msg> get_reply;
  absl::StatusOr<Msg> get_async_reply;
  absl::Notification get_done;
  absl::Notification get_async_done;
  members.GetAsync(*get_ctx, request, [&](absl::StatusOr<Msg> r) {
    get_reply = std::move(r);
    get_done.Notify();
  });
  members.GetAsync_Async(*get_async_ctx, request, [&](absl::StatusOr<Msg> r) {
    get_async_reply = std::move(r);
    get_async_done.Notify();
  });
  ASSERT_TRUE(get_done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  ASSERT_TRUE(get_async_done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  ASSERT_TRUE(get_reply.ok()) << get_reply.status();
  EXPECT_EQ(get_reply->text(), "Get(x)");
  ASSERT_TRUE(get_async_reply.ok()) << get_async_reply.status();
  EXPECT_EQ(get_async_reply->text(), "GetAsync_(x)");
}

TEST_F(StubTest, GlobalServiceWithoutPackage) {
  ::Global::Stub stub(channel_);
  ::GlobalRequest request;
  request.set_text("hi");
  absl::StatusOr<::GlobalReply> reply = stub.Get(*Context(), request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "global hi");
}

}  // namespace
