// Calls KeyValueService's handlers directly, without a server: the service's own
// contract (codes, messages, ordering, paging) apart from any transport.
#include "examples/kv/kv_service.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/context.h"

namespace ferry {
namespace examples {
namespace kv {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class KeyValueServiceTest : public ::testing::Test {
 protected:
  absl::Status Put(const std::string& key, const std::string& value, bool* replaced = nullptr) {
    PutRequest request;
    request.set_key(key);
    request.set_value(value);
    PutReply reply;
    absl::Status status = service_.Put(*ctx_, request, &reply);
    if (replaced != nullptr) *replaced = reply.replaced();
    return status;
  }

  absl::Status Get(const std::string& key, std::string* value = nullptr) {
    GetRequest request;
    request.set_key(key);
    GetReply reply;
    absl::Status status = service_.Get(*ctx_, request, &reply);
    if (value != nullptr) *value = reply.value();
    return status;
  }

  absl::Status Delete(const std::string& key) {
    DeleteRequest request;
    request.set_key(key);
    google::protobuf::Empty reply;
    return service_.Delete(*ctx_, request, &reply);
  }

  ListReply List(const std::string& prefix, uint32_t limit = 0,
                 const std::string& start_after = "") {
    ListRequest request;
    request.set_prefix(prefix);
    request.set_limit(limit);
    request.set_start_after(start_after);
    ListReply reply;
    EXPECT_TRUE(service_.List(*ctx_, request, &reply).ok());
    return reply;
  }

  static std::vector<std::string> Keys(const ListReply& reply) {
    std::vector<std::string> keys;
    for (const Entry& entry : reply.entries()) keys.push_back(entry.key());
    return keys;
  }

  KeyValueService service_;
  std::unique_ptr<ServerContext> ctx_{ServerCallAccess::New()};
};

TEST_F(KeyValueServiceTest, PutThenGetReturnsTheValueAndPutReportsReplacement) {
  bool replaced = true;
  ASSERT_TRUE(Put("k", "v1", &replaced).ok());
  EXPECT_FALSE(replaced);
  ASSERT_TRUE(Put("k", "v2", &replaced).ok());
  EXPECT_TRUE(replaced);
  std::string value;
  ASSERT_TRUE(Get("k", &value).ok());
  EXPECT_EQ(value, "v2");
}

TEST_F(KeyValueServiceTest, ValuesAreBytes) {
  const std::string binary("\0\xff\n", 3);
  ASSERT_TRUE(Put("bin", binary).ok());
  std::string value;
  ASSERT_TRUE(Get("bin", &value).ok());
  EXPECT_EQ(value, binary);
}

TEST_F(KeyValueServiceTest, GetOfAMissingKeyIsNotFoundAndNamesTheKey) {
  absl::Status status = Get("no-such-key");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("\"no-such-key\""));
}

TEST_F(KeyValueServiceTest, ErrorMessagesEscapeAndShortenKeys) {
  absl::Status status = Get(std::string("a\nb\0", 4));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("\"a\\nb\\x00\""));

  status = Get(std::string(1000, 'x'));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("(1000 bytes)"));
  EXPECT_LT(status.message().size(), 200u);
}

TEST_F(KeyValueServiceTest, EmptyKeyIsInvalidArgumentForEveryKeyedMethod) {
  absl::Status status = Put("", "v");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("empty"));
  EXPECT_EQ(Get("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Delete("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Keys(List("")), IsEmpty());
}

TEST_F(KeyValueServiceTest, OversizedKeyAndValueAreInvalidArgument) {
  const std::string long_key(KeyValueService::kMaxKeySize + 1, 'k');
  absl::Status status = Put(long_key, "v");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("longer than 1024 bytes"));
  EXPECT_TRUE(Put(std::string(KeyValueService::kMaxKeySize, 'k'), "v").ok());

  status = Put("big", std::string(KeyValueService::kMaxValueSize + 1, 'v'));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("\"big\""));
  EXPECT_EQ(Get("big").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Put("big", std::string(KeyValueService::kMaxValueSize, 'v')).ok());
}

TEST_F(KeyValueServiceTest, DeleteRemovesTheKeyAndIsNotFoundTheSecondTime) {
  ASSERT_TRUE(Put("k", "v").ok());
  EXPECT_TRUE(Delete("k").ok());
  EXPECT_EQ(Get("k").code(), absl::StatusCode::kNotFound);
  absl::Status status = Delete("k");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("\"k\""));
}

TEST_F(KeyValueServiceTest, ListReturnsPrefixMatchesInKeyOrder) {
  // Inserted out of order, with neighbours just outside the prefix on both sides.
  for (const char* key : {"b/2", "a", "b/10", "b", "b/1", "b0", "c", "b/"}) {
    ASSERT_TRUE(Put(key, absl::StrCat("value of ", key)).ok());
  }
  ListReply reply = List("b/");
  EXPECT_THAT(Keys(reply), ElementsAre("b/", "b/1", "b/10", "b/2"));
  EXPECT_FALSE(reply.truncated());
  EXPECT_EQ(reply.entries(1).value(), "value of b/1");

  EXPECT_THAT(Keys(List("")), ElementsAre("a", "b", "b/", "b/1", "b/10", "b/2", "b0", "c"));
  EXPECT_THAT(Keys(List("zzz")), IsEmpty());
}

TEST_F(KeyValueServiceTest, ListPagesWithLimitAndStartAfter) {
  for (const char* key : {"p/a", "p/b", "p/c", "p/d", "p/e", "q"}) ASSERT_TRUE(Put(key, "").ok());
  ListReply page = List("p/", 2);
  EXPECT_THAT(Keys(page), ElementsAre("p/a", "p/b"));
  EXPECT_TRUE(page.truncated());
  page = List("p/", 2, "p/b");
  EXPECT_THAT(Keys(page), ElementsAre("p/c", "p/d"));
  EXPECT_TRUE(page.truncated());
  page = List("p/", 2, "p/d");
  EXPECT_THAT(Keys(page), ElementsAre("p/e"));
  EXPECT_FALSE(page.truncated());
  // Exactly `limit` matches left is not truncated.
  page = List("p/", 1, "p/d");
  EXPECT_THAT(Keys(page), ElementsAre("p/e"));
  EXPECT_FALSE(page.truncated());
  // A start_after before the prefix range does not skip into it.
  EXPECT_THAT(Keys(List("p/", 1, "a")), ElementsAre("p/a"));
}

TEST_F(KeyValueServiceTest, ListCapsEntriesAndBytes) {
  for (uint32_t i = 0; i < KeyValueService::kMaxListEntries + 5; ++i) {
    ASSERT_TRUE(Put(absl::StrCat("n/", 100000 + i), "").ok());
  }
  ListReply reply = List("n/", 0);
  EXPECT_EQ(reply.entries_size(), static_cast<int>(KeyValueService::kMaxListEntries));
  EXPECT_TRUE(reply.truncated());
  reply = List("n/", KeyValueService::kMaxListEntries + 100);
  EXPECT_EQ(reply.entries_size(), static_cast<int>(KeyValueService::kMaxListEntries));

  // Two values of just under half the budget fit in one reply, a third does not.
  const std::string half(KeyValueService::kListReplyBudget / 2 - 16, 'v');
  for (const char* key : {"h/1", "h/2", "h/3"}) ASSERT_TRUE(Put(key, half).ok());
  reply = List("h/");
  EXPECT_THAT(Keys(reply), ElementsAre("h/1", "h/2"));
  EXPECT_TRUE(reply.truncated());
  reply = List("h/", 0, "h/2");
  EXPECT_THAT(Keys(reply), ElementsAre("h/3"));
  EXPECT_FALSE(reply.truncated());
}

TEST_F(KeyValueServiceTest, ConcurrentPutsAreAllStored) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      std::unique_ptr<ServerContext> ctx(ServerCallAccess::New());
      for (int i = 0; i < kPerThread; ++i) {
        PutRequest request;
        request.set_key(absl::StrCat("t", t, "/", i));
        PutReply reply;
        ASSERT_TRUE(service_.Put(*ctx, request, &reply).ok());
        GetRequest get;
        get.set_key(request.key());
        GetReply got;
        ASSERT_TRUE(service_.Get(*ctx, get, &got).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(List(absl::StrCat("t", t, "/")).entries_size(), kPerThread);
  }
}

}  // namespace
}  // namespace kv
}  // namespace examples
}  // namespace ferry
