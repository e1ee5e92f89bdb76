// Credential checks of the shm rendezvous: which uids may connect, and which servers a
// client trusts with its segment. These tests act as uid 65534 in forked children, which
// needs root outside a user namespace; Bazel's sandbox maps only root, so this target runs
// unsandboxed (tags = ["no-sandbox"]) and the tests skip, saying why, where they cannot.
#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/frame.h"
#include "transports/shm/shm_transport.h"
#include "transports/shm/test_util.h"

namespace ferry {
namespace {

using shm::testing::Token;

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

class ShmTransportTest : public testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    name_ = absl::StrCat("shmcred-", ::getpid(), "-", Token(), "-", n++);
  }
  Address Addr(absl::string_view options = "") {
    return *Address::Parse(absl::StrCat("shm://", name_, options.empty() ? "" : "?", options));
  }

  ShmTransport shm_;
  std::string name_;
};

// ---- Credentials ------------------------------------------------------------------------

constexpr uid_t kNobody = 65534;

// Starts `fn` in a child process running as uid/gid 65534; its return value is the exit
// code. The caller starts no thread of its own before; the shm hang-up watch thread that
// earlier tests started may exist, and its fork handlers leave the child a lock-free
// start (the child's first connection starts a watch of its own).
pid_t StartAsNobody(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      ::_exit(90);
    }
    ::alarm(20);  // never outlive a failed test
    ::_exit(fn());
  }
  return pid;
}

int WaitChild(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

// Whether this process may switch to uid 65534 (root outside a user namespace that maps
// only root, as Bazel's sandbox may be).
bool CanActAsNobody() {
  if (::getuid() != 0) return false;
  return WaitChild(StartAsNobody([] { return 0; })) == 0;
}

#define SKIP_UNLESS_NOBODY_AVAILABLE()                                                  \
  if (!CanActAsNobody()) {                                                              \
    GTEST_SKIP() << "cannot act as uid 65534 here (not root, or a user namespace that " \
                    "maps only root)";                                                  \
  }

TEST_F(ShmTransportTest, AClientOfAnotherUidIsRefusedWithAReason) {
  SKIP_UNLESS_NOBODY_AVAILABLE();
  auto listener = shm_.Listen(Addr(), {});
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string address = (*listener)->address();
  const pid_t child = StartAsNobody([&] {
    ShmTransport t;
    auto conn = t.Connect(*Address::Parse(address), {}, Soon());
    absl::Status result;
    if (!conn.ok()) {
      // The server refused us before our hello went out: Connect() says so.
      if (conn.status().code() != absl::StatusCode::kPermissionDenied) return 10;
      result = conn.status();
    } else {
      // The hello went out first: the refusal arrives on the first wait.
      OutFrame f = MakeFrame(FrameType::kPing, 0, 0, "12345678");
      (void)(*conn)->Send({&f, 1}, Soon());
      absl::StatusOr<Frame> reply = (*conn)->Receive(Soon());
      if (reply.ok() || reply.status().code() != absl::StatusCode::kUnavailable) return 11;
      result = reply.status();
    }
    if (!absl::StrContains(result.message(), "uid 65534 may not connect")) {
      std::fprintf(stderr, "child: %s\n", result.ToString().c_str());
      return 12;
    }
    return 0;
  });
  // Accept() refuses the child and keeps waiting; a same-uid client is then served.
  std::thread acceptor([&] {
    auto conn = (*listener)->Accept();
    ASSERT_TRUE(conn.ok()) << conn.status();
    EXPECT_TRUE(absl::StrContains((*conn)->PeerDescription(), absl::StrCat("pid=", ::getpid())))
        << (*conn)->PeerDescription();
  });
  EXPECT_EQ(WaitChild(child), 0) << "the client was not refused with the server's reason";
  auto ok = shm_.Connect(*Address::Parse(address), {}, Soon());
  EXPECT_TRUE(ok.ok()) << ok.status();
  acceptor.join();
}

TEST_F(ShmTransportTest, AClientOfAnAllowedUidIsServed) {
  SKIP_UNLESS_NOBODY_AVAILABLE();
  auto listener = shm_.Listen(Addr("uids=65534"), {});
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string address = (*listener)->address();
  const pid_t child = StartAsNobody([&] {
    ShmTransport t;
    auto conn = t.Connect(*Address::Parse(address), {}, Soon());
    if (!conn.ok()) return 10;
    OutFrame f = MakeFrame(FrameType::kPing, 0, 0, "12345678");
    if (!(*conn)->Send({&f, 1}, Soon()).ok()) return 11;
    absl::StatusOr<Frame> reply = (*conn)->Receive(Soon());
    return reply.ok() && reply->payload == "87654321" ? 0 : 12;
  });
  auto conn = (*listener)->Accept();
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE(absl::StrContains((*conn)->PeerDescription(), "uid=65534"));
  absl::StatusOr<Frame> ping = (*conn)->Receive(Soon());
  ASSERT_TRUE(ping.ok()) << ping.status();
  OutFrame pong = MakeFrame(FrameType::kPing, kFlagAck, 0, "87654321");
  ASSERT_TRUE((*conn)->Send({&pong, 1}, Soon()).ok());
  EXPECT_EQ(WaitChild(child), 0);
}

TEST_F(ShmTransportTest, AServerOfAnotherUidGetsNoSegmentUnlessAllowed) {
  SKIP_UNLESS_NOBODY_AVAILABLE();
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  const std::string name = name_;
  const pid_t child = StartAsNobody([&] {
    ShmTransport t;
    // Our clients are root: let them in, so the test is only about the client's check.
    auto listener = t.Listen(*Address::Parse("shm://" + name + "?uids=0"), {});
    if (!listener.ok()) return 10;
    if (::write(ready[1], "r", 1) != 1) return 11;
    auto conn = (*listener)->Accept();  // only the allowed client gets this far
    if (!conn.ok()) return 12;
    absl::StatusOr<Frame> f = (*conn)->Receive(Soon());
    return f.ok() && f->payload == "squatter?" ? 0 : 13;
  });
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  // Another user holds the name: a client does not hand it a segment...
  auto refused = shm_.Connect(Addr(), {}, Soon());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  // ... unless told to trust that uid.
  auto trusted = shm_.Connect(Addr("uids=65534"), {}, Soon());
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "squatter?");
  ASSERT_TRUE((*trusted)->Send({&f, 1}, Soon()).ok());
  EXPECT_EQ(WaitChild(child), 0);
}

}  // namespace
}  // namespace ferry
