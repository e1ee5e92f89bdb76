#include "transports/default_transports.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "transports/transport.h"

namespace ferry {
namespace {

TEST(DefaultTransportsTest, HoldsEveryBuiltInTransport) {
  std::shared_ptr<const TransportRegistry> registry = DefaultTransports();
  ASSERT_NE(registry, nullptr);
  EXPECT_EQ(registry->schemes(), (std::vector<std::string>{"exec", "fifo", "inproc", "mq", "shm", "stdio", "sysv", "tcp", "udp", "unix"}));
  for (const std::string& scheme : registry->schemes()) {
    ASSERT_NE(registry->Find(scheme), nullptr) << scheme;
    EXPECT_EQ(registry->Find(scheme)->scheme(), scheme);
  }
  EXPECT_EQ(registry->Find("nosuch"), nullptr);
}

TEST(DefaultTransportsTest, IsBuiltOnce) {
  EXPECT_EQ(DefaultTransports().get(), DefaultTransports().get());
  // A fresh registry is a different set of transport objects (its own inproc names).
  std::shared_ptr<TransportRegistry> other = NewDefaultTransportRegistry();
  EXPECT_NE(other->Find("inproc"), DefaultTransports()->Find("inproc"));
}

TEST(DefaultTransportsTest, InprocNamesAreSharedThroughTheRegistry) {
  Transport* inproc = DefaultTransports()->Find("inproc");
  absl::StatusOr<Address> addr = Address::Parse("inproc:default-registry-test");
  ASSERT_TRUE(addr.ok());
  auto listener = inproc->Listen(*addr, {});
  ASSERT_TRUE(listener.ok()) << listener.status();
  auto client = DefaultTransports()->Find("inproc")->Connect(*addr, {}, absl::InfiniteFuture());
  ASSERT_TRUE(client.ok()) << client.status();
  auto server = (*listener)->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  // The other registry does not see the name.
  auto stranger = NewDefaultTransportRegistry()->Find("inproc")->Connect(
      *addr, {}, absl::InfiniteFuture());
  EXPECT_EQ(stranger.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ferry
