#include "transports/shm/raw_shm.h"

#include <unistd.h>

#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "transports/shm/test_util.h"
#include "transports/testing/pattern.h"

namespace ferry::shm {
namespace {

using ::ferry::shm::testing::Token;

std::string Name() {
  static int n = 0;
  return absl::StrCat("rawtest-", ::getpid(), "-", Token(), "-", n++);
}

class RawShmTest : public ::testing::TestWithParam<const char*> {};

TEST_P(RawShmTest, EchoesEverySizeWithItsTag) {
  auto server =
      RawShmEchoServer::Start(absl::StrCat("shm://", Name(), "?ring=64k&wake=", GetParam()));
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = RawShmConnect((*server)->address(), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  std::string reply;
  // Up to 4x the ring: the large ones stream through in pieces both ways.
  for (size_t size : {size_t{0}, size_t{1}, size_t{64}, size_t{65535}, size_t{65536 - 8},
                      size_t{100000}, size_t{256 << 10}}) {
    SCOPED_TRACE(size);
    const std::string payload = PatternBytes(size, static_cast<uint32_t>(size));
    ASSERT_TRUE((*client)->Send(static_cast<uint32_t>(size) + 7, payload).ok());
    absl::StatusOr<uint32_t> tag = (*client)->Receive(&reply, absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(tag.ok()) << tag.status();
    EXPECT_EQ(*tag, size + 7);
    EXPECT_TRUE(reply == payload);
    ASSERT_TRUE((*client)->RoundTrip(payload, &reply).ok());
    EXPECT_TRUE(reply == payload);
  }
}

TEST_P(RawShmTest, ServerShutdownIsUnavailableForTheClient) {
  auto server = RawShmEchoServer::Start(absl::StrCat("shm://", Name(), "?wake=", GetParam()));
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = RawShmConnect((*server)->address(), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  std::string reply;
  ASSERT_TRUE((*client)->RoundTrip("x", &reply).ok());
  (*server)->Shutdown();
  const absl::Status s = (*client)->RoundTrip("y", &reply, absl::Now() + absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

TEST_P(RawShmTest, ShutdownWakesABlockedReceive) {
  auto listener = RawShmListener::Listen(absl::StrCat("shm://", Name(), "?wake=", GetParam()));
  ASSERT_TRUE(listener.ok()) << listener.status();
  auto client = RawShmConnect((*listener)->address(), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  auto server = (*listener)->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  absl::Status result;
  std::thread receiver([&] {
    std::string buf;
    result = (*server)->Receive(&buf).status();
  });
  absl::SleepFor(absl::Milliseconds(50));
  (*server)->Shutdown();
  receiver.join();
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable) << result;
}

INSTANTIATE_TEST_SUITE_P(Wake, RawShmTest, ::testing::Values("futex", "spin", "eventfd", "signal"));

}  // namespace
}  // namespace ferry::shm
