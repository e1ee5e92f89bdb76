// Compiles what protoc-gen-ferry emits for the test protos and calls it: each method is
// dispatched the way the server does (by its index in the method table, with serialized
// bytes), so the test sees which handler ran under which C++ name, the default
// UNIMPLEMENTED body, decoding errors, and the original proto names in the descriptors.
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "codegen/testdata/basic.ferry.h"
#include "codegen/testdata/basic.grpc.pb.h"
#include "codegen/testdata/basic.pb.h"
#include "codegen/testdata/clashes.ferry.h"
#include "codegen/testdata/imported/imported.pb.h"
#include "codegen/testdata/imported/sub/deeper.pb.h"
#include "codegen/testdata/no_package.ferry.h"
#include "codegen/testdata/types.ferry.h"
#include "gmock/gmock.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/message_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "runtime/context.h"
#include "runtime/service.h"

namespace {

using ::ferry::test::basic::Envelope;
using ::ferry::test::basic::Envelope_Payload;
using ::ferry::test::basic::GreetReply;
using ::ferry::test::basic::GreetRequest;
using ::ferry::test::basic::Greeter;
using ::ferry::test::clash::Msg;
using ::ferry::test::types::Item;
using ::ferry::test::types::Item_Detail;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- The exact API: signatures checked at compile time. ----

// Compiles only if `member` (possibly overloaded) has a member of exactly type T: the
// conversion of the argument is the check. It does not compare the pointer with nullptr:
// under -fsanitize=undefined gcc no longer folds member-pointer comparisons, and the
// static_asserts below would stop being constant expressions.
template <typename T>
constexpr bool HasSignature(T /*member*/) {
  return true;
}


static_assert(Greeter::kServiceName == "ferry.test.basic.Greeter");
static_assert(std::is_base_of_v<::ferry::Service, Greeter::Service>);
static_assert(std::is_constructible_v<Greeter::Stub, std::shared_ptr<::ferry::Channel>>);
static_assert(!std::is_convertible_v<std::shared_ptr<::ferry::Channel>, Greeter::Stub>,
              "the Stub constructor is explicit");
static_assert(HasSignature<absl::StatusOr<GreetReply> (Greeter::Stub::*)(
                                 ferry::ClientContext&, const GreetRequest&)>(&Greeter::Stub::Greet));
static_assert(HasSignature<void (Greeter::Stub::*)(
                                 ferry::ClientContext&, const GreetRequest&,
                                 absl::AnyInvocable<void(absl::StatusOr<GreetReply>) &&>)>(&Greeter::Stub::GreetAsync));
static_assert(HasSignature<absl::Status (Greeter::Service::*)(ferry::ServerContext&,
                                                                const GreetRequest&, GreetReply*)>(&Greeter::Service::Greet));
static_assert(HasSignature<absl::Status (Greeter::Stub::*)(ferry::ClientContext&,
                                                          const GreetRequest&, GreetReply*)>(
    &Greeter::Stub::Greet));
// Nested messages, imported messages and well-known types, by protobuf's class names.
static_assert(HasSignature<absl::StatusOr<Item_Detail> (Greeter::Stub::*)(ferry::ClientContext&,
                                                                            const Item&)>(&Greeter::Stub::Describe));
static_assert(HasSignature<absl::StatusOr<Envelope> (Greeter::Stub::*)(
                                 ferry::ClientContext&, const Envelope_Payload&)>(&Greeter::Stub::Wrap));
static_assert(HasSignature<absl::StatusOr<google::protobuf::Timestamp> (Greeter::Stub::*)(
                                 ferry::ClientContext&, const google::protobuf::Empty&)>(&Greeter::Stub::Now));
// Renamed methods: the blocking and async names of one method.
static_assert(HasSignature<void (ferry::test::clash::Keywords::Stub::*)(
                                 ferry::ClientContext&, const Msg&,
                                 absl::AnyInvocable<void(absl::StatusOr<Msg>) &&>)>(&ferry::test::clash::Keywords::Stub::delete_Async));
static_assert(HasSignature<void (ferry::test::clash::Members::Stub::*)(
                                 ferry::ClientContext&, const Msg&,
                                 absl::AnyInvocable<void(absl::StatusOr<Msg>) &&>)>(&ferry::test::clash::Members::Stub::GetAsync_Async));
// gRPC's stubs of the same file live beside Ferry's, in a nested namespace.
static_assert(std::is_base_of_v<::grpc::Service,
                                ::ferry::test::basic::grpc_gen::Greeter::Service>);

// ---- Calling ferry_dispatch the way the server does. ----

int MethodIndex(const ferry::Service& service, absl::string_view path) {
  const ferry::ServiceDescriptor& descriptor = service.ferry_descriptor();
  for (size_t i = 0; i < descriptor.methods.size(); ++i) {
    if (descriptor.methods[i].path == path) return static_cast<int>(i);
  }
  ADD_FAILURE() << "no method " << path << " in " << descriptor.full_name;
  return -1;
}

template <typename Resp>
absl::StatusOr<Resp> DispatchBytes(ferry::Service& service, absl::string_view path,
                                   absl::string_view request_bytes) {
  const ferry::ServerContext::MetadataView metadata;
  std::unique_ptr<ferry::ServerContext> ctx(ferry::ServerCallAccess::New());
  ferry::ServerCallAccess::Reset(*ctx, path, absl::InfiniteFuture(), &metadata, "test");
  // Not empty, so the test sees that dispatch replaces the reply rather than appends.
  ferry::DispatchReply reply;
  *reply.SetBytes() = "stale bytes from an earlier call";
  absl::Status status =
      service.ferry_dispatch(MethodIndex(service, path), *ctx, request_bytes, &reply);
  if (!status.ok()) return status;
  Resp response;
  if (!response.ParseFromString(std::string(reply.Flatten()))) {
    return absl::InternalError(absl::StrCat("reply of ", path, " does not parse"));
  }
  return response;
}

// Serializes `request`, runs the method whose path is `path` by its index in the
// service's method table, and parses the reply into a Resp.
template <typename Resp>
absl::StatusOr<Resp> Dispatch(ferry::Service& service, absl::string_view path,
                              const google::protobuf::MessageLite& request) {
  return DispatchBytes<Resp>(service, path, request.SerializeAsString());
}

// ---- basic.proto: a package, several services, imports, nested and well-known types ----

class GreeterImpl : public Greeter::Service {
 public:
  absl::Status Greet(ferry::ServerContext& ctx, const GreetRequest& request,
                     GreetReply* response) override {
    if (request.name() == "nobody") return absl::NotFoundError("no such person");
    response->set_greeting(absl::StrCat("hello, ", request.name(), " via ", ctx.method()));
    return absl::OkStatus();
  }
  absl::Status Ping(ferry::ServerContext&, const google::protobuf::Empty&,
                    google::protobuf::Empty*) override {
    ++pings;
    return absl::OkStatus();
  }
  absl::Status Now(ferry::ServerContext&, const google::protobuf::Empty&,
                   google::protobuf::Timestamp* response) override {
    response->set_seconds(1700000000);
    response->set_nanos(5);
    return absl::OkStatus();
  }
  absl::Status Describe(ferry::ServerContext&, const Item& request,
                        Item_Detail* response) override {
    response->set_note(absl::StrCat(request.count(), " of ", request.name()));
    return absl::OkStatus();
  }
  absl::Status Wrap(ferry::ServerContext&, const Envelope_Payload& request,
                    Envelope* response) override {
    *response->mutable_payload() = request;
    response->set_priority(7);
    return absl::OkStatus();
  }

  int pings = 0;
};

TEST(BasicTest, DescriptorListsMethodsInOrderWithPaths) {
  GreeterImpl greeter;
  const ferry::ServiceDescriptor& descriptor = greeter.ferry_descriptor();
  EXPECT_EQ(descriptor.full_name, "ferry.test.basic.Greeter");
  EXPECT_EQ(descriptor.full_name, Greeter::kServiceName);
  std::vector<std::string> names;
  std::vector<std::string> paths;
  for (const ferry::MethodDescriptor& method : descriptor.methods) {
    names.emplace_back(method.name);
    paths.emplace_back(method.path);
    EXPECT_EQ(method.kind, ferry::MethodKind::kUnary) << method.name;
  }
  EXPECT_THAT(names, ElementsAre("Greet", "Ping", "Now", "Describe", "Wrap", "NotOverridden"));
  EXPECT_THAT(paths, ElementsAre("/ferry.test.basic.Greeter/Greet", "/ferry.test.basic.Greeter/Ping",
                                 "/ferry.test.basic.Greeter/Now",
                                 "/ferry.test.basic.Greeter/Describe",
                                 "/ferry.test.basic.Greeter/Wrap",
                                 "/ferry.test.basic.Greeter/NotOverridden"));
  // The table is built once: the server may keep pointers into it.
  EXPECT_EQ(&greeter.ferry_descriptor(), &GreeterImpl().ferry_descriptor());
}

TEST(BasicTest, EveryMethodRunsItsOwnHandler) {
  GreeterImpl greeter;
  GreetRequest greet;
  greet.set_name("ada");
  absl::StatusOr<GreetReply> greeting =
      Dispatch<GreetReply>(greeter, "/ferry.test.basic.Greeter/Greet", greet);
  ASSERT_TRUE(greeting.ok()) << greeting.status();
  EXPECT_EQ(greeting->greeting(), "hello, ada via /ferry.test.basic.Greeter/Greet");

  EXPECT_TRUE(Dispatch<google::protobuf::Empty>(greeter, "/ferry.test.basic.Greeter/Ping",
                                                google::protobuf::Empty())
                  .ok());
  EXPECT_EQ(greeter.pings, 1);

  absl::StatusOr<google::protobuf::Timestamp> now = Dispatch<google::protobuf::Timestamp>(
      greeter, "/ferry.test.basic.Greeter/Now", google::protobuf::Empty());
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->seconds(), 1700000000);
  EXPECT_EQ(now->nanos(), 5);

  Item item;
  item.set_name("bolts");
  item.set_count(3);
  absl::StatusOr<Item_Detail> detail =
      Dispatch<Item_Detail>(greeter, "/ferry.test.basic.Greeter/Describe", item);
  ASSERT_TRUE(detail.ok()) << detail.status();
  EXPECT_EQ(detail->note(), "3 of bolts");

  Envelope_Payload payload;
  payload.set_data(std::string("\0\1\2", 3));
  absl::StatusOr<Envelope> envelope =
      Dispatch<Envelope>(greeter, "/ferry.test.basic.Greeter/Wrap", payload);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->payload().data(), std::string("\0\1\2", 3));
  EXPECT_EQ(envelope->priority(), 7);
}

TEST(BasicTest, HandlerStatusIsReturnedVerbatim) {
  GreeterImpl greeter;
  GreetRequest greet;
  greet.set_name("nobody");
  absl::StatusOr<GreetReply> reply =
      Dispatch<GreetReply>(greeter, "/ferry.test.basic.Greeter/Greet", greet);
  EXPECT_EQ(reply.status(), absl::NotFoundError("no such person"));
}

TEST(BasicTest, MethodNotOverriddenIsUnimplemented) {
  GreeterImpl greeter;
  absl::StatusOr<GreetReply> reply =
      Dispatch<GreetReply>(greeter, "/ferry.test.basic.Greeter/NotOverridden", GreetRequest());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(reply.status().message(),
            "method /ferry.test.basic.Greeter/NotOverridden is not implemented");
}

TEST(BasicTest, UndecodableRequestIsInvalidArgument) {
  GreeterImpl greeter;
  // Field 1 (name) claims 5 bytes; 2 follow.
  absl::StatusOr<GreetReply> reply =
      DispatchBytes<GreetReply>(greeter, "/ferry.test.basic.Greeter/Greet", "\x0a\x05hi");
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reply.status().message(), HasSubstr("ferry.test.basic.GreetRequest"));
}

TEST(BasicTest, IndexOutsideTheTableIsUnimplemented) {
  GreeterImpl greeter;
  const ferry::ServerContext::MetadataView metadata;
  std::unique_ptr<ferry::ServerContext> ctx(ferry::ServerCallAccess::New());
  ferry::ServerCallAccess::Reset(*ctx, "/x/y", absl::InfiniteFuture(), &metadata, "test");
  ferry::DispatchReply response;
  const int past_end = static_cast<int>(greeter.ferry_descriptor().methods.size());
  EXPECT_EQ(greeter.ferry_dispatch(past_end, *ctx, "", &response).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(greeter.ferry_dispatch(-1, *ctx, "", &response).code(),
            absl::StatusCode::kUnimplemented);
}

TEST(BasicTest, SecondServiceOfTheFileIsIndependent) {
  class CounterImpl : public ferry::test::basic::Counter::Service {
    absl::Status Add(ferry::ServerContext&, const Item& request, Item* response) override {
      response->set_name(request.name());
      response->set_count(request.count() + 1);
      return absl::OkStatus();
    }
    absl::Status Dive(ferry::ServerContext&, const ferry::test::imported::Shared_Nested& request,
                      ferry::test::imported::Deeper* response) override {
      *response->mutable_shared()->mutable_nested() = request;
      response->set_depth(2);
      return absl::OkStatus();
    }
  } counter;
  EXPECT_EQ(counter.ferry_descriptor().full_name, "ferry.test.basic.Counter");
  Item item;
  item.set_name("n");
  item.set_count(41);
  absl::StatusOr<Item> reply = Dispatch<Item>(counter, "/ferry.test.basic.Counter/Add", item);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->count(), 42);

  ferry::test::imported::Shared_Nested nested;
  nested.set_text("deep");
  absl::StatusOr<ferry::test::imported::Deeper> deeper =
      Dispatch<ferry::test::imported::Deeper>(counter, "/ferry.test.basic.Counter/Dive", nested);
  ASSERT_TRUE(deeper.ok()) << deeper.status();
  EXPECT_EQ(deeper->shared().nested().text(), "deep");
  EXPECT_EQ(deeper->depth(), 2);
}

// Dispatch reuses request and reply objects per thread (runtime/service.h): every call
// must still start from empty messages, whatever the previous call left in them.
class ReuseCounter : public ferry::test::basic::Counter::Service {
 public:
  absl::Status Add(ferry::ServerContext& ctx, const Item& request, Item* response) override {
    // Only set when non-empty, so a reply object carried over uncleared would show.
    if (!request.name().empty()) response->set_name(request.name());
    if (request.count() > 0) response->set_count(request.count() + 1);
    if (request.name() == "outer") {
      // Re-entering dispatch on this thread while this call's messages are in use.
      Item inner;
      inner.set_name("inner");
      inner.set_count(5);
      absl::StatusOr<Item> r = Dispatch<Item>(*this, ctx.method(), inner);
      if (!r.ok()) return r.status();
      if (r->name() != "inner" || r->count() != 6) return absl::InternalError("inner call");
      if (request.name() != "outer") return absl::InternalError("outer request clobbered");
      response->set_count(response->count() + r->count());
    }
    return absl::OkStatus();
  }
  absl::Status Dive(ferry::ServerContext&, const ferry::test::imported::Shared_Nested&,
                    ferry::test::imported::Deeper*) override {
    return absl::OkStatus();
  }
};

TEST(BasicTest, EveryCallStartsFromEmptyMessagesThoughTheyAreReused) {
  ReuseCounter counter;
  const char* kAdd = "/ferry.test.basic.Counter/Add";
  Item full;
  full.set_name("n");
  full.set_count(41);
  Item big;
  big.set_name(std::string(200 * 1024, 'b'));  // above the reuse limit: dropped after
  for (const Item* first : {&full, &big}) {
    absl::StatusOr<Item> reply = Dispatch<Item>(counter, kAdd, *first);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->name(), first->name());
    absl::StatusOr<Item> empty = Dispatch<Item>(counter, kAdd, Item());
    ASSERT_TRUE(empty.ok()) << empty.status();
    EXPECT_EQ(empty->name(), "");
    EXPECT_EQ(empty->count(), 0);
  }
  // A request that fails to decode leaves nothing behind for the next call either.
  EXPECT_EQ(DispatchBytes<Item>(counter, kAdd, "\x0a\x05" "ab").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Item> after = Dispatch<Item>(counter, kAdd, Item());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->name(), "");
}

TEST(BasicTest, HandlerReenteringDispatchOnItsThreadGetsItsOwnMessages) {
  ReuseCounter counter;
  Item outer;
  outer.set_name("outer");
  outer.set_count(1);
  absl::StatusOr<Item> reply = Dispatch<Item>(counter, "/ferry.test.basic.Counter/Add", outer);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->name(), "outer");
  EXPECT_EQ(reply->count(), 2 + 6);
}

TEST(BasicTest, EmptyServiceHasNoMethods) {
  ferry::test::basic::Nothing::Service nothing;
  EXPECT_EQ(nothing.ferry_descriptor().full_name, "ferry.test.basic.Nothing");
  EXPECT_TRUE(nothing.ferry_descriptor().methods.empty());
  const ferry::ServerContext::MetadataView metadata;
  std::unique_ptr<ferry::ServerContext> ctx(ferry::ServerCallAccess::New());
  ferry::ServerCallAccess::Reset(*ctx, "/x/y", absl::InfiniteFuture(), &metadata, "test");
  ferry::DispatchReply response;
  EXPECT_EQ(nothing.ferry_dispatch(0, *ctx, "", &response).code(),
            absl::StatusCode::kUnimplemented);
}

TEST(BasicTest, GrpcStubsOfTheSameFileLinkBesideFerrys) {
  // Constructing it needs grpc.pb.cc's code in the same binary as basic.ferry.cc's.
  ferry::test::basic::grpc_gen::Greeter::Service grpc_service;
  EXPECT_EQ(std::string(ferry::test::basic::grpc_gen::Greeter::service_full_name()),
            "ferry.test.basic.Greeter");
}

// ---- no_package.proto: the global namespace ----

TEST(NoPackageTest, ServiceIsGlobalAndPathHasNoPackage) {
  static_assert(::Global::kServiceName == "Global");
  class GlobalImpl : public ::Global::Service {
    absl::Status Get(ferry::ServerContext&, const ::GlobalRequest& request,
                     ::GlobalReply* response) override {
      response->set_text(absl::StrCat("got ", request.text()));
      return absl::OkStatus();
    }
  } global;
  ASSERT_EQ(global.ferry_descriptor().methods.size(), 1u);
  EXPECT_EQ(global.ferry_descriptor().methods[0].path, "/Global/Get");
  ::GlobalRequest request;
  request.set_text("x");
  absl::StatusOr<::GlobalReply> reply = Dispatch<::GlobalReply>(global, "/Global/Get", request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "got x");
}

// ---- clashes.proto: renamed C++ names, original wire names ----

// Each handler answers with its own C++ name, so a test can tell which one ran.
#define FERRY_TEST_HANDLER(name)                                                   \
  absl::Status name(ferry::ServerContext&, const Msg& request, Msg* response) override { \
    response->set_text(absl::StrCat(#name, "(", request.text(), ")"));              \
    return absl::OkStatus();                                                         \
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
  FERRY_TEST_HANDLER(ferry_descriptor_)
  FERRY_TEST_HANDLER(channel__)
  FERRY_TEST_HANDLER(kServiceName_)
  FERRY_TEST_HANDLER(Stub_)
  FERRY_TEST_HANDLER(Service_)
  FERRY_TEST_HANDLER(Members_)
};

class LocalsImpl : public ferry::test::clash::Locals::Service {
  absl::Status ctx(ferry::ServerContext&, const ferry::test::clash::Outer_Inner& request,
                   ferry::test::clash::Outer_Inner* response) override {
    response->set_text(absl::StrCat("ctx(", request.text(), ")"));
    return absl::OkStatus();
  }
  FERRY_TEST_HANDLER(request)
  FERRY_TEST_HANDLER(response)
  FERRY_TEST_HANDLER(done)
  FERRY_TEST_HANDLER(status)
  FERRY_TEST_HANDLER(method_index)
};

class StubServiceImpl : public ferry::test::clash::Stub_::Service {
  FERRY_TEST_HANDLER(Get)
};
class ServiceServiceImpl : public ferry::test::clash::Service_::Service {
  FERRY_TEST_HANDLER(Get)
};
class ClassServiceImpl : public ferry::test::clash::class_::Service {
  FERRY_TEST_HANDLER(Get)
};
class OuterInnerServiceImpl : public ferry::test::clash::Outer_Inner_::Service {
  FERRY_TEST_HANDLER(Get)
};

#undef FERRY_TEST_HANDLER

struct ClashCase {
  std::string path;     // the wire name: the proto's
  std::string handler;  // the C++ name expected to run
};

void ExpectHandlers(ferry::Service& service, absl::string_view full_name,
                    const std::vector<ClashCase>& cases) {
  EXPECT_EQ(service.ferry_descriptor().full_name, full_name);
  ASSERT_EQ(service.ferry_descriptor().methods.size(), cases.size()) << full_name;
  for (size_t i = 0; i < cases.size(); ++i) {
    // The table holds the proto names, in declaration order.
    EXPECT_EQ(service.ferry_descriptor().methods[i].path, cases[i].path);
    EXPECT_EQ(absl::StrCat("/", full_name, "/", service.ferry_descriptor().methods[i].name),
              cases[i].path);
    Msg request;
    request.set_text("arg");
    absl::StatusOr<Msg> reply = Dispatch<Msg>(service, cases[i].path, request);
    ASSERT_TRUE(reply.ok()) << cases[i].path << ": " << reply.status();
    EXPECT_EQ(reply->text(), cases[i].handler + "(arg)") << cases[i].path;
  }
}

TEST(ClashTest, KeywordMethodsGetAnUnderscore) {
  KeywordsImpl service;
  ExpectHandlers(service, "ferry.test.clash.Keywords",
                 {{"/ferry.test.clash.Keywords/delete", "delete_"},
                  {"/ferry.test.clash.Keywords/class", "class_"},
                  {"/ferry.test.clash.Keywords/new", "new_"},
                  {"/ferry.test.clash.Keywords/and", "and_"}});
}

TEST(ClashTest, MethodsNamedLikeGeneratedMembersGetAnUnderscore) {
  MembersImpl service;
  ExpectHandlers(service, "ferry.test.clash.Members",
                 {{"/ferry.test.clash.Members/GetAsync", "GetAsync_"},
                  {"/ferry.test.clash.Members/Get", "Get"},
                  {"/ferry.test.clash.Members/ferry_dispatch", "ferry_dispatch_"},
                  {"/ferry.test.clash.Members/ferry_descriptor", "ferry_descriptor_"},
                  {"/ferry.test.clash.Members/channel_", "channel__"},
                  {"/ferry.test.clash.Members/kServiceName", "kServiceName_"},
                  {"/ferry.test.clash.Members/Stub", "Stub_"},
                  {"/ferry.test.clash.Members/Service", "Service_"},
                  {"/ferry.test.clash.Members/Members", "Members_"}});
}

TEST(ClashTest, MethodsNamedLikeParametersKeepTheirNames) {
  LocalsImpl service;
  ferry::test::clash::Outer_Inner inner;
  inner.set_text("arg");
  absl::StatusOr<ferry::test::clash::Outer_Inner> reply =
      Dispatch<ferry::test::clash::Outer_Inner>(service, "/ferry.test.clash.Locals/ctx", inner);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "ctx(arg)");
  for (const char* name : {"request", "response", "done", "status", "method_index"}) {
    Msg request;
    request.set_text("arg");
    absl::StatusOr<Msg> msg =
        Dispatch<Msg>(service, absl::StrCat("/ferry.test.clash.Locals/", name), request);
    ASSERT_TRUE(msg.ok()) << name << ": " << msg.status();
    EXPECT_EQ(msg->text(), absl::StrCat(name, "(arg)"));
  }
}

TEST(ClashTest, ServicesNamedLikeGeneratedClassesOrTypesGetAnUnderscore) {
  static_assert(ferry::test::clash::Stub_::kServiceName == "ferry.test.clash.Stub");
  static_assert(ferry::test::clash::Service_::kServiceName == "ferry.test.clash.Service");
  static_assert(ferry::test::clash::class_::kServiceName == "ferry.test.clash.class");
  static_assert(ferry::test::clash::Outer_Inner_::kServiceName == "ferry.test.clash.Outer_Inner");
  StubServiceImpl stub_service;
  ExpectHandlers(stub_service, "ferry.test.clash.Stub", {{"/ferry.test.clash.Stub/Get", "Get"}});
  ServiceServiceImpl service_service;
  ExpectHandlers(service_service, "ferry.test.clash.Service",
                 {{"/ferry.test.clash.Service/Get", "Get"}});
  ClassServiceImpl class_service;
  ExpectHandlers(class_service, "ferry.test.clash.class", {{"/ferry.test.clash.class/Get", "Get"}});
  OuterInnerServiceImpl outer_inner_service;
  ExpectHandlers(outer_inner_service, "ferry.test.clash.Outer_Inner",
                 {{"/ferry.test.clash.Outer_Inner/Get", "Get"}});
}

}  // namespace
