// The transport conformance suite over mq://, plus what is particular to POSIX queues:
// fragmentation at the queue's message size (the default limits, and a larger msgsize
// where the machine lets this test have one), urgent control pieces, stale-queue
// reclamation, 0600 permissions.
#include "transports/mq/mq_transport.h"

#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "transports/msgq/msgq_connection.h"
#include "transports/msgq/process.h"
#include "transports/msgq/test_registry.h"
#include "transports/testing/transport_conformance.h"

namespace ferry {
namespace {

// Bazel sandboxes share /tmp (the registry) but not pids: a random token keeps names apart.
const std::string& Token() {
  static const std::string* t =
      new std::string(absl::StrCat(absl::Hex(std::random_device{}(), absl::kZeroPad8)));
  return *t;
}

std::string FreshName() {
  msgq::UsePrivateRegistry();  // SIGKILLed peers' records and queues go at exit
  static std::atomic<int> n{0};
  return absl::StrCat("t", ::getpid(), "-", Token(), "-", n.fetch_add(1));
}

INSTANTIATE_TEST_SUITE_P(
    Mq, TransportConformanceTest,
    ::testing::Values(TransportConformanceParam{
        "Mq", [] { return std::make_unique<MqTransport>(); },
        [](const std::string&) { return "mq://" + FreshName(); },
        nullptr,
        "mq:// carries whole messages: half a frame cannot be written (piece_test covers "
        "truncated and garbage pieces)"}),
    TransportConformanceName);

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

struct Pair {
  std::unique_ptr<Listener> listener;
  std::unique_ptr<Connection> client, server;
};

Pair Connect(MqTransport& t, const std::string& address) {
  Pair p;
  auto l = t.Listen(*Address::Parse(address), {});
  EXPECT_TRUE(l.ok()) << l.status();
  if (!l.ok()) return p;
  p.listener = *std::move(l);
  auto c = t.Connect(*Address::Parse(p.listener->address()), {}, Soon());
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return p;
  p.client = *std::move(c);
  auto s = p.listener->Accept();
  EXPECT_TRUE(s.ok()) << s.status();
  if (s.ok()) p.server = *std::move(s);
  return p;
}

// Echoes `size` bytes client -> server and checks the piece count matches the queue's
// message size (read back from the kernel, not assumed).
void EchoAndCountPieces(Pair& p, size_t size) {
  ASSERT_NE(p.server, nullptr);
  auto* client = static_cast<msgq::MsgqConnection*>(p.client.get());
  const size_t msg = client->max_message();
  const std::string payload(size, 'p');
  const uint64_t before = client->pieces_sent();
  std::thread sender([&] {
    OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, payload);
    EXPECT_TRUE(p.client->Send({&f, 1}, Soon()).ok());
  });
  absl::StatusOr<Frame> got = p.server->Receive(Soon());
  sender.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->payload == payload);
  const uint64_t body = msg - msgq::kPieceHeaderSize;
  const uint64_t want = (size + kFrameHeaderSize + body - 1) / body;
  EXPECT_EQ(client->pieces_sent() - before, want) << "message size " << msg;
}

TEST(MqTransportTest, DefaultLimitsFragmentAtTheSystemMessageSize) {
  const mq::MqLimits lim = mq::ReadMqLimits();
  ASSERT_GT(lim.msgsize_max, 0) << "cannot read /proc/sys/fs/mqueue/msgsize_max";
  MqTransport t;
  Pair p = Connect(t, "mq://" + FreshName());
  ASSERT_NE(p.client, nullptr);
  auto* client = static_cast<msgq::MsgqConnection*>(p.client.get());
  // The system's largest message, unless that would not leave room for several queues in
  // RLIMIT_MSGQUEUE (not so with the kernel's defaults).
  EXPECT_LE(client->max_message(), static_cast<size_t>(lim.msgsize_max));
  EXPECT_GE(client->max_message(), std::min<size_t>(lim.msgsize_max, 8192));
  for (size_t size : {size_t{0}, size_t{100}, size_t{8000}, size_t{1} << 20, size_t{4} << 20}) {
    SCOPED_TRACE(size);
    EchoAndCountPieces(p, size);
  }
}

// True if this process may create a queue with `msgsize`-byte messages.
bool CanCreate(long msgsize, const std::string& tag) {
  mq_attr attr{};
  attr.mq_maxmsg = 4;
  attr.mq_msgsize = msgsize;
  const std::string probe = absl::StrCat("/ferry-probe-", tag);
  mqd_t q = mq_open(probe.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
  if (q == static_cast<mqd_t>(-1)) return false;
  mq_close(q);
  mq_unlink(probe.c_str());
  return true;
}

// With a larger message size the same frames take proportionally fewer queue messages.
// Root outside a user namespace may exceed msgsize_max (CAP_SYS_RESOURCE); otherwise the
// test moves itself into a private IPC namespace (CAP_SYS_ADMIN there, which Bazel's
// sandbox and root have) and raises that namespace's msgsize_max. Where neither works it
// says so and skips.
TEST(MqTransportTest, LargerMessageSizeMeansFewerPieces) {
  const mq::MqLimits lim = mq::ReadMqLimits();
  const long big = std::max<long>(lim.msgsize_max * 8, 65536);
  const std::string name = FreshName();
  std::string how = "CAP_SYS_RESOURCE";
  // The namespace to return to, so later tests see the machine's own limits.
  const int home = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
  struct Return {
    int fd;
    ~Return() {
      if (fd >= 0) {
        setns(fd, CLONE_NEWIPC);
        close(fd);
      }
    }
  } back{-1};
  if (!CanCreate(big, name)) {
    how = "a private IPC namespace with msgsize_max raised";
    back.fd = home;
    if (unshare(CLONE_NEWIPC) != 0) {
      GTEST_SKIP() << "msgsize " << big << " is above msgsize_max " << lim.msgsize_max
                   << " and unshare(CLONE_NEWIPC) failed: " << std::strerror(errno);
    }
    std::ofstream("/proc/sys/fs/mqueue/msgsize_max") << big;
    if (!CanCreate(big, name)) {
      GTEST_SKIP() << "cannot raise /proc/sys/fs/mqueue/msgsize_max to " << big
                   << " in a private IPC namespace";
    }
  }
  if (back.fd < 0 && home >= 0) close(home);
  std::cerr << "msgsize " << big << " through " << how << "\n";
  MqTransport t;
  Pair p = Connect(t, absl::StrCat("mq://", name, "?msgsize=", big, "&maxmsg=4"));
  ASSERT_NE(p.client, nullptr);
  EXPECT_EQ(static_cast<msgq::MsgqConnection*>(p.client.get())->max_message(),
            static_cast<size_t>(big));
  for (size_t size : {size_t{100}, size_t{1} << 20, size_t{4} << 20}) {
    SCOPED_TRACE(size);
    EchoAndCountPieces(p, size);
  }
}

// Nothing in the address: the transport reads the kernel's limits when it makes each
// queue, so raising them changes its fragmentation with no option. In a private IPC
// namespace (the machine's own limits are never touched) msgsize_max goes up 4x and
// msg_max down to 3, so that a server's request queue of the larger messages still fits
// its share of RLIMIT_MSGQUEUE (1/8: three 32 KiB messages in the default 800 KiB).
TEST(MqTransportTest, RaisedKernelLimitsChangeTheDefaultFragmentation) {
  const mq::MqLimits machine = mq::ReadMqLimits();
  ASSERT_GT(machine.msgsize_max, 0);
  const long big = 32768;
  const int home = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
  if (home < 0 || unshare(CLONE_NEWIPC) != 0) {
    if (home >= 0) close(home);
    GTEST_SKIP() << "no private IPC namespace to raise msgsize_max in: " << std::strerror(errno);
  }
  struct Return {
    int fd;
    ~Return() {
      setns(fd, CLONE_NEWIPC);
      close(fd);
    }
  } back{home};
  std::ofstream("/proc/sys/fs/mqueue/msgsize_max") << big;
  std::ofstream("/proc/sys/fs/mqueue/msg_max") << 3;
  const mq::MqLimits raised = mq::ReadMqLimits();
  if (raised.msgsize_max != big || raised.msg_max != 3) {
    GTEST_SKIP() << "cannot set msgsize_max=" << big << " msg_max=3 in a private IPC namespace";
  }
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_MSGQUEUE, &rl), 0);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 8 < static_cast<rlim_t>(3 * big + 4096)) {
    GTEST_SKIP() << "RLIMIT_MSGQUEUE " << rl.rlim_cur << " leaves no room for 32 KiB messages";
  }
  MqTransport t;
  Pair p = Connect(t, "mq://" + FreshName());
  ASSERT_NE(p.client, nullptr);
  auto* client = static_cast<msgq::MsgqConnection*>(p.client.get());
  EXPECT_EQ(client->max_message(), static_cast<size_t>(big))
      << "the machine's msgsize_max is " << machine.msgsize_max;
  for (size_t size : {size_t{100}, size_t{40000}, size_t{1} << 20}) {
    SCOPED_TRACE(size);
    EchoAndCountPieces(p, size);
  }
}

TEST(MqTransportTest, MessageSizeAboveTheLimitIsRefusedClearly) {
  const mq::MqLimits lim = mq::ReadMqLimits();
  if (::geteuid() == 0) {
    // Root may be allowed anything up to the hard ceiling; ask beyond it.
    MqTransport t;
    auto l = t.Listen(*Address::Parse("mq://" + FreshName() + "?msgsize=67108864"), {});
    if (l.ok()) GTEST_SKIP() << "this machine lets us create 64 MiB messages";
    EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument) << l.status();
    return;
  }
  MqTransport t;
  auto l = t.Listen(
      *Address::Parse(absl::StrCat("mq://", FreshName(), "?msgsize=", lim.msgsize_max * 2)), {});
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument) << l.status();
}

TEST(MqTransportTest, BadAddressesAreInvalidArgument) {
  MqTransport t;
  for (const char* a : {"mq://a/b", "mq://", "mq://x?msgsize=1", "mq://x?maxmsg=0",
                        "mq://x?color=red"}) {
    auto addr = Address::Parse(a);
    if (!addr.ok()) continue;
    EXPECT_EQ(t.Listen(*addr, {}).status().code(), absl::StatusCode::kInvalidArgument) << a;
  }
}

TEST(MqTransportTest, QueuesAreCreated0600AndRemovedOnClose) {
  MqTransport t;
  const std::string name = FreshName();
  Pair p = Connect(t, "mq://" + name);
  ASSERT_NE(p.server, nullptr);
  // The server queue exists with mode 0600 (mq descriptors are fds on Linux).
  mqd_t q = mq_open(absl::StrCat("/ferry.", name).c_str(), O_RDONLY);
  ASSERT_NE(q, static_cast<mqd_t>(-1)) << std::strerror(errno);
  struct stat st;
  ASSERT_EQ(fstat(static_cast<int>(q), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  mq_close(q);
  EXPECT_EQ(msgq::ListRecords(absl::StrCat("mq.", name, "+")).size(), 1u);
  p.client->Close();
  p.server->Close();
  p.listener->Close();
  p = Pair{};
  EXPECT_EQ(mq_open(absl::StrCat("/ferry.", name).c_str(), O_RDONLY), static_cast<mqd_t>(-1));
  EXPECT_EQ(errno, ENOENT);
  EXPECT_TRUE(msgq::ListRecords(absl::StrCat("mq.", name, "+")).empty());
  EXPECT_TRUE(msgq::ListRecords(absl::StrCat("mq.", name, ".")).empty());
}

TEST(MqTransportTest, CancelOvertakesQueuedData) {
  MqTransport t;
  Pair p = Connect(t, "mq://" + FreshName());
  ASSERT_NE(p.server, nullptr);
  // Three data sends wait in the queue, then a CANCEL: it comes out first.
  for (uint32_t id = 1; id <= 3; ++id) {
    OutFrame f = MakeFrame(FrameType::kMessage, 0, id, "data");
    ASSERT_TRUE(p.client->Send({&f, 1}, Soon()).ok());
  }
  OutFrame cancel = MakeFrame(FrameType::kCancel, 0, 2, "");
  ASSERT_TRUE(p.client->Send({&cancel, 1}, Soon()).ok());
  absl::StatusOr<Frame> first = p.server->Receive(Soon());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->header.type, FrameType::kCancel);
  EXPECT_EQ(first->header.call_id, 2u);
  for (uint32_t id = 1; id <= 3; ++id) {
    absl::StatusOr<Frame> f = p.server->Receive(Soon());
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->header.call_id, id);
  }
}

// A client killed with SIGKILL leaves its reply queue; the server reclaims it when it
// notices (within a wait slice), and a fresh Listen() reclaims what a dead server left.
TEST(MqTransportTest, SigkilledPeersLeaveNoQueues) {
  MqTransport t;
  const std::string name = FreshName();
  auto l = t.Listen(*Address::Parse("mq://" + name), {});
  ASSERT_TRUE(l.ok()) << l.status();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto c = t.Connect(*Address::Parse("mq://" + name), {}, absl::Now() + absl::Seconds(5));
    if (!c.ok()) _exit(1);
    OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "from the child");
    if (!(*c)->Send({&f, 1}, absl::Now() + absl::Seconds(5)).ok()) _exit(2);
    for (;;) pause();  // killed below
  }
  auto server = (*l)->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<Frame> f = (*server)->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->payload, "from the child");
  ASSERT_EQ(msgq::ListRecords(absl::StrCat("mq.", name, "+")).size(), 1u);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  const absl::Time start = absl::Now();
  absl::StatusOr<Frame> gone = (*server)->Receive(Soon());
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kUnavailable) << gone.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  (*server)->Close();
  EXPECT_TRUE(msgq::ListRecords(absl::StrCat("mq.", name, "+")).empty())
      << "the dead client's reply queue was not reclaimed";
  (*l)->Close();
}

// The other direction of peer death: a server SIGKILLed while its client waits for a
// frame. The queue has no hang-up; the client's wait slices check the server's pidfd.
TEST(MqTransportTest, AKilledServerIsUnavailableToItsClientWithinASecond) {
  const std::string name = FreshName();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    MqTransport st;
    auto l = st.Listen(*Address::Parse("mq://" + name), {});
    if (!l.ok()) _exit(1);
    if (write(ready[1], "l", 1) != 1) _exit(2);
    auto server = (*l)->Accept();
    if (!server.ok()) _exit(3);
    if (write(ready[1], "a", 1) != 1) _exit(4);
    for (;;) pause();  // killed below
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1) << "the server child did not listen";
  MqTransport t;
  auto client = t.Connect(*Address::Parse("mq://" + name), {}, Soon());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_EQ(read(ready[0], &c, 1), 1) << "the server child did not accept";
  close(ready[0]);
  absl::StatusOr<Frame> early = (*client)->Receive(absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kDeadlineExceeded) << early.status();
  ASSERT_EQ(kill(child, SIGKILL), 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const absl::Time start = absl::Now();
  absl::StatusOr<Frame> gone = (*client)->Receive(Soon());
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kUnavailable) << gone.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  (*client)->Close();
  // What the dead server left is reclaimed by the next Listen() on its name.
  auto again = t.Listen(*Address::Parse("mq://" + name), {});
  ASSERT_TRUE(again.ok()) << again.status();
  (*again)->Close();
}

TEST(MqTransportTest, ListenReclaimsOnlyDeadOwnersQueues) {
  const std::string name = FreshName();
  // A server process that dies without closing.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    MqTransport t;
    auto l = t.Listen(*Address::Parse("mq://" + name), {});
    if (!l.ok()) _exit(1);
    (void)l->release();  // never closed
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  mqd_t stale = mq_open(absl::StrCat("/ferry.", name).c_str(), O_RDONLY);
  ASSERT_NE(stale, static_cast<mqd_t>(-1)) << "the dead server's queue should still be there";
  mq_close(stale);
  MqTransport t;
  auto l = t.Listen(*Address::Parse("mq://" + name), {});
  ASSERT_TRUE(l.ok()) << l.status();  // reclaimed
  // A live server's name is not taken over.
  auto again = t.Listen(*Address::Parse("mq://" + name), {});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  (*l)->Close();
}

// Another connection's thread leads the shared queue when a new client connects and
// sends at once: the new client's first pieces are read before Accept() has seen its
// OPEN, and must wait for it rather than be dropped.
TEST(MqTransportTest, PiecesReadBeforeAcceptWaitForTheirConnection) {
  MqTransport t;
  Pair a = Connect(t, "mq://" + FreshName());
  ASSERT_NE(a.server, nullptr);
  absl::StatusOr<Frame> from_a;
  std::thread leader([&] { from_a = a.server->Receive(Soon()); });
  absl::SleepFor(absl::Milliseconds(50));  // a's thread now reads the shared queue
  auto b = t.Connect(*Address::Parse(a.listener->address()), {}, Soon());
  ASSERT_TRUE(b.ok()) << b.status();
  OutFrame hello = MakeFrame(FrameType::kMessage, 0, 7, "first words");
  ASSERT_TRUE((*b)->Send({&hello, 1}, Soon()).ok());
  absl::SleepFor(absl::Milliseconds(50));  // read (and set aside) by a's thread
  auto b_server = a.listener->Accept();
  ASSERT_TRUE(b_server.ok()) << b_server.status();
  absl::StatusOr<Frame> f = (*b_server)->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->payload, "first words");
  OutFrame to_a = MakeFrame(FrameType::kMessage, 0, 1, "for a");
  ASSERT_TRUE(a.client->Send({&to_a, 1}, Soon()).ok());
  leader.join();
  ASSERT_TRUE(from_a.ok()) << from_a.status();
  EXPECT_EQ(from_a->payload, "for a");
}

}  // namespace
}  // namespace ferry
