#include "transports/shm/raw_shm.h"

#include <unistd.h>

#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace ferry::shm {
namespace {

// Rendezvous names are abstract sockets, shared by every process in the network namespace,
// and Bazel runs tests in parallel in separate pid namespaces (same pids): a random token
// per process keeps names apart.
const std::string& Token() {
  static const std::string* token =
      new std::string(absl::StrCat(absl::Hex(std::random_device{}(), absl::kZeroPad8)));
  return *token;
}

std::string Name() {
  static int n = 0;
  return absl::StrCat("rawtest-", ::getpid(), "-", Token(), "-", n++);
}

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 5;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

class RawShmTest : public testing::TestWithParam<const char*> {};

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
    const std::string payload = Pattern(size, static_cast<uint32_t>(size));
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

INSTANTIATE_TEST_SUITE_P(Wake, RawShmTest, testing::Values("futex", "spin", "eventfd", "signal"));

}  // namespace
}  // namespace ferry::shm
