// The transport conformance suite over sysv://, plus what is particular to one SysV queue
// per server: fragmentation at min(msgmax, msg_qbytes) (default limits, and a larger
// msgmax in a private IPC namespace where the test may raise it), urgent requests, no
// deadlock when requests fill the queue both directions share, SIGKILL cleanup.
#include "transports/sysv/sysv_transport.h"

#include <sched.h>
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
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
    Sysv, TransportConformanceTest,
    ::testing::Values(TransportConformanceParam{
        "Sysv", [] { return std::make_unique<SysvTransport>(); },
        [](const std::string&) { return "sysv://" + FreshName(); },
        nullptr,
        "sysv:// carries whole messages: half a frame cannot be written (piece_test covers "
        "truncated and garbage pieces)"}),
    TransportConformanceName);

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

struct Pair {
  std::unique_ptr<Listener> listener;
  std::unique_ptr<Connection> client, server;
};

Pair Connect(SysvTransport& t, const std::string& address) {
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
  EXPECT_EQ(client->pieces_sent() - before, (size + kFrameHeaderSize + body - 1) / body)
      << "message size " << msg;
}

// The largest message: msgmax, but no more than the queue holds (msg_qbytes).
size_t ExpectedMessageSize(int msqid) {
  const sysv::SysvLimits lim = sysv::ReadSysvLimits();
  msqid_ds ds{};
  EXPECT_EQ(msgctl(msqid, IPC_STAT, &ds), 0);
  return std::min<size_t>(lim.msgmax, ds.msg_qbytes);
}

TEST(SysvTransportTest, DefaultLimitsFragmentAtTheSystemMessageSize) {
  ASSERT_GT(sysv::ReadSysvLimits().msgmax, 0) << "cannot read /proc/sys/kernel/msgmax";
  SysvTransport t;
  const std::string name = FreshName();
  Pair p = Connect(t, "sysv://" + name);
  ASSERT_NE(p.client, nullptr);
  absl::StatusOr<int> id = sysv::RecordedQueueId(name);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(static_cast<msgq::MsgqConnection*>(p.client.get())->max_message(),
            ExpectedMessageSize(*id));
  for (size_t size : {size_t{0}, size_t{100}, size_t{8000}, size_t{1} << 20, size_t{4} << 20}) {
    SCOPED_TRACE(size);
    EchoAndCountPieces(p, size);
  }
}

// msgmax can only be raised by writing /proc/sys/kernel/msgmax: the test does that in a
// private IPC namespace (CAP_SYS_ADMIN there, which root and Bazel's sandbox have), so the
// machine's own setting is never touched, and returns to its namespace afterwards.
TEST(SysvTransportTest, LargerMsgmaxMeansFewerPieces) {
  const sysv::SysvLimits lim = sysv::ReadSysvLimits();
  const long big = std::max<long>(lim.msgmax * 8, 65536);
  const int home = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
  if (home < 0 || unshare(CLONE_NEWIPC) != 0) {
    if (home >= 0) close(home);
    GTEST_SKIP() << "no private IPC namespace for raising msgmax: " << std::strerror(errno);
  }
  struct Return {
    int fd;
    ~Return() {
      setns(fd, CLONE_NEWIPC);
      close(fd);
    }
  } back{home};
  std::ofstream("/proc/sys/kernel/msgmax") << big;
  std::ofstream("/proc/sys/kernel/msgmnb") << 4 * big;
  if (sysv::ReadSysvLimits().msgmax != big) {
    GTEST_SKIP() << "cannot raise msgmax to " << big << " in a private IPC namespace";
  }
  SysvTransport t;
  const std::string name = FreshName();
  Pair p = Connect(t, "sysv://" + name);
  ASSERT_NE(p.client, nullptr);
  EXPECT_EQ(static_cast<msgq::MsgqConnection*>(p.client.get())->max_message(),
            static_cast<size_t>(big));
  for (size_t size : {size_t{100}, size_t{1} << 20, size_t{4} << 20}) {
    SCOPED_TRACE(size);
    EchoAndCountPieces(p, size);
  }
}

TEST(SysvTransportTest, QueueIs0600AndRemovedWhenEverythingCloses) {
  SysvTransport t;
  const std::string name = FreshName();
  Pair p = Connect(t, "sysv://" + name);
  ASSERT_NE(p.server, nullptr);
  absl::StatusOr<int> id = sysv::RecordedQueueId(name);
  ASSERT_TRUE(id.ok()) << id.status();
  msqid_ds ds{};
  ASSERT_EQ(msgctl(*id, IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_perm.mode & 0777, 0600u);
  p.listener->Close();
  EXPECT_FALSE(sysv::RecordedQueueId(name).ok()) << "the record outlived the listener";
  // Connections keep the queue; it goes with the last of them.
  EXPECT_EQ(msgctl(*id, IPC_STAT, &ds), 0);
  p = Pair{};
  EXPECT_NE(msgctl(*id, IPC_STAT, &ds), 0);
}

TEST(SysvTransportTest, UrgentRequestsOvertakeQueuedData) {
  SysvTransport t;
  Pair p = Connect(t, "sysv://" + FreshName());
  ASSERT_NE(p.server, nullptr);
  for (uint32_t id = 1; id <= 3; ++id) {
    OutFrame f = MakeFrame(FrameType::kMessage, 0, id, "data");
    ASSERT_TRUE(p.client->Send({&f, 1}, Soon()).ok());
  }
  OutFrame cancel = MakeFrame(FrameType::kCancel, 0, 2, "");
  ASSERT_TRUE(p.client->Send({&cancel, 1}, Soon()).ok());
  absl::StatusOr<Frame> first = p.server->Receive(Soon());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->header.type, FrameType::kCancel);
  for (uint32_t id = 1; id <= 3; ++id) {
    absl::StatusOr<Frame> f = p.server->Receive(Soon());
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->header.call_id, id);
  }
}

// Requests and replies share one queue of msgmnb bytes. The client fills it with requests
// the server has not read; the server, before reading them, sends a large reply. Without
// draining on a full queue both sides would wait for each other until the deadline.
TEST(SysvTransportTest, AQueueFullOfRequestsDoesNotBlockReplies) {
  SysvTransport t;
  Pair p = Connect(t, "sysv://" + FreshName());
  ASSERT_NE(p.server, nullptr);
  const std::string request(1 << 20, 'q'), reply(1 << 20, 'r');
  std::atomic<bool> client_sent{false};
  std::thread client_sender([&] {
    std::vector<OutFrame> frames;
    for (uint32_t i = 1; i <= 3; ++i) frames.push_back(MakeFrame(FrameType::kMessage, 0, i, request));
    EXPECT_TRUE(p.client->Send(frames, Soon()).ok());
    client_sent = true;
  });
  std::thread client_receiver([&] {
    absl::StatusOr<Frame> f = p.client->Receive(Soon());
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_TRUE(f->payload == reply);
  });
  absl::SleepFor(absl::Milliseconds(50));  // let the requests fill the queue
  OutFrame r = MakeFrame(FrameType::kMessage, 0, 1, reply);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(p.server->Send({&r, 1}, Soon()).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  for (uint32_t i = 1; i <= 3; ++i) {
    absl::StatusOr<Frame> f = p.server->Receive(Soon());
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->header.call_id, i);
    EXPECT_TRUE(f->payload == request);
  }
  client_sender.join();
  client_receiver.join();
  EXPECT_TRUE(client_sent);
}

// A client killed with SIGKILL is noticed within a second; nothing of it stays in the
// server's queue. A server killed with SIGKILL leaves its queue, which the next Listen()
// on the name removes.
// The other direction of peer death: a server SIGKILLed while its client waits for a
// frame. The queue has no hang-up; the client's wait slices check the server's pidfd.
TEST(SysvTransportTest, AKilledServerIsUnavailableToItsClientWithinASecond) {
  const std::string name = FreshName();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    SysvTransport st;
    auto l = st.Listen(*Address::Parse("sysv://" + name), {});
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
  SysvTransport t;
  auto client = t.Connect(*Address::Parse("sysv://" + name), {}, Soon());
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
  auto again = t.Listen(*Address::Parse("sysv://" + name), {});
  ASSERT_TRUE(again.ok()) << again.status();
  (*again)->Close();
}

TEST(SysvTransportTest, SigkilledPeersLeaveNothingBehind) {
  SysvTransport t;
  const std::string name = FreshName();
  auto l = t.Listen(*Address::Parse("sysv://" + name), {});
  ASSERT_TRUE(l.ok()) << l.status();
  absl::StatusOr<int> id = sysv::RecordedQueueId(name);
  ASSERT_TRUE(id.ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto c = t.Connect(*Address::Parse("sysv://" + name), {}, absl::Now() + absl::Seconds(5));
    if (!c.ok()) _exit(1);
    OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "from the child");
    if (!(*c)->Send({&f, 1}, absl::Now() + absl::Seconds(5)).ok()) _exit(2);
    for (;;) pause();
  }
  auto server = (*l)->Accept();
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<Frame> f = (*server)->Receive(Soon());
  ASSERT_TRUE(f.ok()) << f.status();
  // Replies the child will never read.
  OutFrame reply = MakeFrame(FrameType::kMessage, 0, 1, "unread");
  ASSERT_TRUE((*server)->Send({&reply, 1}, Soon()).ok());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  const absl::Time start = absl::Now();
  absl::StatusOr<Frame> gone = (*server)->Receive(Soon());
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kUnavailable) << gone.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  (*server)->Close();
  msqid_ds ds{};
  ASSERT_EQ(msgctl(*id, IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.msg_qnum, 0u) << "messages for the dead client were left in the queue";
  (*l)->Close();

  // A dead server's queue is reclaimed by the next Listen(), and only a dead one's.
  const pid_t server_child = fork();
  ASSERT_GE(server_child, 0);
  if (server_child == 0) {
    SysvTransport st;
    auto sl = st.Listen(*Address::Parse("sysv://" + name), {});
    if (!sl.ok()) _exit(1);
    (void)sl->release();
    _exit(0);  // no destructors: the queue stays, as after SIGKILL
  }
  int status = 0;
  waitpid(server_child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  absl::StatusOr<int> stale = sysv::RecordedQueueId(name);
  ASSERT_TRUE(stale.ok());
  ASSERT_EQ(msgctl(*stale, IPC_STAT, &ds), 0) << "the dead server's queue should be there";
  auto again = t.Listen(*Address::Parse("sysv://" + name), {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(msgctl(*stale, IPC_STAT, &ds), 0) << "the dead server's queue was not removed";
  auto third = t.Listen(*Address::Parse("sysv://" + name), {});
  EXPECT_EQ(third.status().code(), absl::StatusCode::kAlreadyExists);
}

// Another connection's thread leads the shared queue when a new client connects and
// sends at once: the new client's first pieces are read before Accept() has seen its
// OPEN, and must wait for it rather than be dropped.
TEST(SysvTransportTest, PiecesReadBeforeAcceptWaitForTheirConnection) {
  SysvTransport t;
  Pair a = Connect(t, "sysv://" + FreshName());
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
