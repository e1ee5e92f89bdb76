#include "transports/uds/uds_transport.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "transports/testing/transport_conformance.h"

namespace ferry {
namespace {

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

TransportConformanceParam UdsParam() {
  TransportConformanceParam p;
  p.name = "Uds";
  p.make_transport = [] { return std::make_unique<UdsTransport>(); };
  p.listen_address = [](const std::string& dir) { return absl::StrCat("unix:", dir, "/s.sock"); };
  p.raw_connect = [](const std::string& address) -> absl::StatusOr<UniqueFd> {
    absl::StatusOr<Address> a = Address::Parse(address);
    if (!a.ok()) return a.status();
    return ConnectUnixSocket(a->target, Soon());
  };
  return p;
}

INSTANTIATE_TEST_SUITE_P(Uds, TransportConformanceTest, ::testing::Values(UdsParam()),
                         TransportConformanceName);

// ---- The mechanism --------------------------------------------------------------------

class UdsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // $TEST_TMPDIR is too long for sun_path inside Bazel's sandbox.
    char dir[] = "/tmp/ferry-uds-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr) << std::strerror(errno);
    dir_ = dir;
    path_ = dir_ + "/s.sock";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  Address Addr(const std::string& path) { return *Address::Parse("unix:" + path); }

  UdsTransport uds_;
  std::string dir_;
  std::string path_;
};

TEST_F(UdsTransportTest, SocketFileIsOwnerOnlyAndRemovedOnClose) {
  // Even with a permissive umask, the file must never be group/world accessible.
  const mode_t old_umask = ::umask(0);
  auto listener = uds_.Listen(Addr(path_), {});
  ::umask(old_umask);
  ASSERT_TRUE(listener.ok()) << listener.status();
  struct stat st;
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ((*listener)->address(), "unix:" + path_);
  (*listener)->Close();
  EXPECT_NE(::lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
}

// Listen() relies on this Linux behaviour to create the file with the right mode from the
// start; if a kernel stops doing it, this test says so before Listen() starts refusing.
TEST_F(UdsTransportTest, KernelCreatesTheSocketFileWithTheSocketInodeMode) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::fchmod(fd.get(), 0600), 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strcpy(sa.sun_path, path_.c_str());
  const mode_t old_umask = ::umask(0);
  const int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  ::umask(old_umask);
  ASSERT_EQ(bound, 0) << std::strerror(errno);
  struct stat st;
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(UdsTransportTest, SocketModeOptionIsApplied) {
  const mode_t old_umask = ::umask(077);
  UdsTransport group(UdsTransport::Options{0660});
  auto listener = group.Listen(Addr(path_), {});
  ::umask(old_umask);
  ASSERT_TRUE(listener.ok()) << listener.status();
  struct stat st;
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(UdsTransportTest, StaleSocketFileIsReplaced) {
  // A server that died without cleaning up: bound, then closed, file left behind.
  {
    UniqueFd dead(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path_.c_str());
    ASSERT_EQ(::bind(dead.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ASSERT_EQ(::listen(dead.get(), 1), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(path_));
  auto listener = uds_.Listen(Addr(path_), {});
  ASSERT_TRUE(listener.ok()) << listener.status();
  auto client = uds_.Connect(Addr(path_), {}, Soon());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*listener)->Accept().ok());
}

TEST_F(UdsTransportTest, LiveServerIsNeverStolen) {
  auto first = uds_.Listen(Addr(path_), {});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = uds_.Listen(Addr(path_), {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(second.status().message().find(path_), absl::string_view::npos) << second.status();
  EXPECT_NE(second.status().message().find("live"), absl::string_view::npos) << second.status();
  // The first server still owns the path and still serves.
  struct stat st;
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  auto client = uds_.Connect(Addr(path_), {}, Soon());
  ASSERT_TRUE(client.ok()) << client.status();
  // The liveness probe showed up as a connection that hung up at once; the real one follows.
  absl::StatusOr<std::unique_ptr<Connection>> probe = (*first)->Accept();
  ASSERT_TRUE(probe.ok());
  EXPECT_EQ((*probe)->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  auto server = (*first)->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  OutFrame f = MakeFrame(FrameType::kPing, 0, 0, "still me");
  ASSERT_TRUE((*client)->Send({&f, 1}, Soon()).ok());
  absl::StatusOr<Frame> got = (*server)->Receive(Soon());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, "still me");
}

TEST_F(UdsTransportTest, NonSocketFileIsNeverRemoved) {
  { std::ofstream(path_) << "precious"; }
  auto listener = uds_.Listen(Addr(path_), {});
  EXPECT_EQ(listener.status().code(), absl::StatusCode::kAlreadyExists) << listener.status();
  EXPECT_NE(listener.status().message().find("not a socket"), absl::string_view::npos);
  std::ifstream in(path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(UdsTransportTest, ClosingAReplacedListenerLeavesTheSuccessorsFile) {
  auto old_listener = uds_.Listen(Addr(path_), {});
  ASSERT_TRUE(old_listener.ok());
  // Someone removes the file and a new server binds the path.
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  auto successor = uds_.Listen(Addr(path_), {});
  ASSERT_TRUE(successor.ok()) << successor.status();
  (*old_listener)->Close();
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_TRUE(uds_.Connect(Addr(path_), {}, Soon()).ok());
}

TEST_F(UdsTransportTest, PathTooLongIsInvalidArgumentNamingTheLimit) {
  const std::string long_path = dir_ + "/" + std::string(120, 'p');
  auto listener = uds_.Listen(Addr(long_path), {});
  EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(listener.status().message().find("107"), absl::string_view::npos)
      << listener.status();
  auto conn = uds_.Connect(Addr(long_path), {}, Soon());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kInvalidArgument);
  // Exactly 107 bytes is allowed.
  std::string max_path = dir_ + "/";
  max_path += std::string(kMaxUnixPathLength - max_path.size(), 'm');
  ASSERT_EQ(max_path.size(), kMaxUnixPathLength);
  auto at_limit = uds_.Listen(Addr(max_path), {});
  EXPECT_TRUE(at_limit.ok()) << at_limit.status();
}

TEST_F(UdsTransportTest, MissingDirectoryIsInvalidArgument) {
  auto listener = uds_.Listen(Addr(dir_ + "/no/such/dir/s.sock"), {});
  EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument) << listener.status();
}

TEST_F(UdsTransportTest, UnknownAddressOptionIsInvalidArgument) {
  auto listener = uds_.Listen(*Address::Parse("unix:" + path_ + "?mode=0666"), {});
  EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(UdsTransportTest, ConnectToNothingIsUnavailable) {
  auto conn = uds_.Connect(Addr(path_), {}, Soon());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable) << conn.status();
}

TEST_F(UdsTransportTest, PeerDescriptionCarriesPidAndUid) {
  auto listener = uds_.Listen(Addr(path_), {});
  ASSERT_TRUE(listener.ok());
  auto client = uds_.Connect(Addr(path_), {}, Soon());
  ASSERT_TRUE(client.ok());
  auto server = (*listener)->Accept();
  ASSERT_TRUE(server.ok());
  const std::string expected =
      absl::StrCat("unix:", path_, " pid=", ::getpid(), " uid=", ::getuid());
  EXPECT_EQ((*server)->PeerDescription(), expected);
  EXPECT_EQ((*client)->PeerDescription(), expected);
}

TEST_F(UdsTransportTest, ConnectHonoursItsDeadlineWhenTheBacklogIsFull) {
  UdsTransport tiny(UdsTransport::Options{0600, /*backlog=*/0});
  auto listener = tiny.Listen(Addr(path_), {});
  ASSERT_TRUE(listener.ok());
  // Nobody accepts: fill the backlog with raw connections that never get accepted.
  std::vector<UniqueFd> filler;
  absl::Status s;
  const absl::Time start = absl::Now();
  for (int i = 0; i < 64 && s.ok(); ++i) {
    absl::StatusOr<UniqueFd> fd = ConnectUnixSocket(path_, absl::Now() + absl::Milliseconds(50));
    if (fd.ok()) filler.push_back(*std::move(fd));
    else s = fd.status();
  }
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // A deadline already past fails at once instead of blocking.
  auto late = tiny.Connect(Addr(path_), {}, absl::InfinitePast());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
}

}  // namespace
}  // namespace ferry
