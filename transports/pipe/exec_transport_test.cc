// exec: end to end: a real child (pipe_test_peer) on stdio:-, its life cycle (exit,
// SIGKILL, grandchildren, a child that ignores end of stream and SIGTERM), what it
// inherits, SIGPIPE on both sides, and no fd, child or zombie left behind.
#include "transports/pipe/exec_transport.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/frame.h"
#include "transports/pipe/stdio_transport.h"

namespace ferry {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(20);
absl::Time Soon() { return absl::Now() + kPatience; }

std::string PeerPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", ws ? ws : "ferry", "/transports/pipe/pipe_test_peer");
}

std::string PeerAddress(const std::string& mode, const std::string& more = "") {
  return absl::StrCat("exec:", PeerPath(), "?arg=--mode=", mode, more);
}

int CountFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n - 1;
}

pid_t PidOf(const Connection& c) {
  const std::string d = c.PeerDescription();
  const size_t at = d.rfind(" pid=");
  int pid = -1;
  if (at == std::string::npos || !absl::SimpleAtoi(d.substr(at + 5), &pid)) return -1;
  return pid;
}

// True once /proc/<pid> is gone: exited *and* reaped (a zombie still has an entry).
bool GoneWithin(pid_t pid, absl::Duration d) {
  const absl::Time until = absl::Now() + d;
  struct stat st;
  const std::string proc = absl::StrCat("/proc/", pid);
  while (absl::Now() < until) {
    if (::stat(proc.c_str(), &st) != 0) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

std::unique_ptr<Connection> ConnectOrDie(ExecTransport& t, const std::string& address) {
  auto a = Address::Parse(address);
  EXPECT_TRUE(a.ok()) << a.status();
  if (!a.ok()) return nullptr;
  auto c = t.Connect(*a, {}, Soon());
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

absl::StatusOr<std::string> Ask(Connection& c, const std::string& what) {
  OutFrame f = MakeFrame(FrameType::kPing, 0, 0, what);
  if (absl::Status s = c.Send({&f, 1}, Soon()); !s.ok()) return s;
  absl::StatusOr<Frame> r = c.Receive(Soon());
  if (!r.ok()) return r.status();
  return std::string(r->payload);
}

TEST(ExecTransport, EchoesEverySizeAndStdoutNoiseNeverReachesTheFrames) {
  ExecTransport t;
  auto c = ConnectOrDie(t, PeerAddress("echo"));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->PeerDescription().rfind("exec:/", 0), 0u) << c->PeerDescription();
  uint32_t id = 1;
  for (size_t size : {size_t{0}, size_t{64}, size_t{70000}, size_t{4} << 20}) {
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 7 + size);
    absl::Status sent;
    std::thread sender([&] {
      OutFrame f = MakeFrame(FrameType::kMessage, 0, id, payload);
      sent = c->Send({&f, 1}, Soon());
    });
    absl::StatusOr<Frame> r = c->Receive(Soon());
    sender.join();
    ASSERT_TRUE(sent.ok()) << sent;
    ASSERT_TRUE(r.ok()) << "size " << size << ": " << r.status();
    EXPECT_EQ(r->header.call_id, id);
    EXPECT_TRUE(r->payload == payload) << "size " << size;
    ++id;
  }
}

TEST(ExecTransport, TheChildInheritsOnlyStdinStdoutAndStderr) {
  // A descriptor the host forgot to mark close-on-exec must not reach the child.
  const int leaky = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaky, 0);
  ExecTransport t;
  auto c = ConnectOrDie(t, PeerAddress("echo"));
  ::close(leaky);
  ASSERT_NE(c, nullptr);
  absl::StatusOr<std::string> fds = Ask(*c, "fds");
  ASSERT_TRUE(fds.ok()) << fds.status();
  EXPECT_EQ(*fds, "0,1,2");
}

TEST(ExecTransport, ArgumentsArePercentDecodedInOrder) {
  ExecTransport t;
  auto c = ConnectOrDie(t, PeerAddress("echo", "&arg=a%26b&arg=x=y&arg=with%20space&arg=100%25"));
  ASSERT_NE(c, nullptr);
  absl::StatusOr<std::string> argv = Ask(*c, "argv");
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_EQ(*argv, "--mode=echo\na&b\nx=y\nwith space\n100%");
}

TEST(ExecTransport, BadAddressesAreClearErrors) {
  ExecTransport t;
  auto missing = t.Connect(*Address::Parse("exec:/no/such/program"), {}, Soon());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable) << missing.status();
  EXPECT_NE(missing.status().message().find("/no/such/program"), absl::string_view::npos);
  auto option = t.Connect(*Address::Parse("exec:/bin/true?colour=red"), {}, Soon());
  EXPECT_EQ(option.status().code(), absl::StatusCode::kInvalidArgument) << option.status();
  auto escape = t.Connect(*Address::Parse("exec:/bin/true?arg=%zz"), {}, Soon());
  EXPECT_EQ(escape.status().code(), absl::StatusCode::kInvalidArgument) << escape.status();
  auto listen = t.Listen(*Address::Parse("exec:/bin/true"), {});
  EXPECT_EQ(listen.status().code(), absl::StatusCode::kInvalidArgument) << listen.status();
  StdioTransport stdio;
  auto conn = stdio.Connect(*Address::Parse("stdio:-"), {}, Soon());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kInvalidArgument) << conn.status();
  auto target = stdio.Listen(*Address::Parse("stdio:/dev/tty"), {});
  EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument) << target.status();
}

TEST(ExecTransport, ChildExitIsUnavailableAndTheChildIsReapedAtOnce) {
  ExecTransport t;
  auto c = ConnectOrDie(t, PeerAddress("exit"));
  ASSERT_NE(c, nullptr);
  const pid_t pid = PidOf(*c);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(c->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "anyone?");
  EXPECT_EQ(c->Send({&f, 1}, Soon()).code(), absl::StatusCode::kUnavailable);
  // Reaped by the watcher while the connection still exists: no zombie.
  EXPECT_TRUE(GoneWithin(pid, kPatience)) << "child " << pid << " not reaped";
}

TEST(ExecTransport, ChildKilledMidReceiveIsUnavailable) {
  ExecTransport t;
  auto c = ConnectOrDie(t, PeerAddress("echo"));
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(Ask(*c, "warm").ok());
  const pid_t pid = PidOf(*c);
  absl::Status got;
  std::thread reader([&] { got = c->Receive(absl::InfiniteFuture()).status(); });
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  reader.join();
  EXPECT_EQ(got.code(), absl::StatusCode::kUnavailable) << got;
  // Sending to the dead child: UNAVAILABLE, and no SIGPIPE kills this process.
  std::string big(1 << 20, 'b');
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, big);
  EXPECT_EQ(c->Send({&f, 1}, Soon()).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(GoneWithin(pid, kPatience));
}

TEST(ExecTransport, AGrandchildHoldingStdoutDoesNotHideTheChildsExit) {
  ExecTransport t;
  auto c = ConnectOrDie(t, PeerAddress("grandchild"));
  ASSERT_NE(c, nullptr);
  // The grandchild keeps the pipe open (until its stdin ends, when we close), so only the
  // watcher's pidfd can tell that the child is gone.
  EXPECT_EQ(c->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(GoneWithin(PidOf(*c), kPatience));
}

TEST(ExecTransport, CloseLetsTheChildExitAndLeavesNoFdOrZombie) {
  ExecTransport t;
  const int before = CountFds();
  pid_t pid = -1;
  {
    auto c = ConnectOrDie(t, PeerAddress("echo"));
    ASSERT_NE(c, nullptr);
    pid = PidOf(*c);
    ASSERT_TRUE(Ask(*c, "hello").ok());
    c->Close();
    // Destruction waits for the child (it exits on end of stream) and reaps it.
  }
  EXPECT_TRUE(GoneWithin(pid, absl::ZeroDuration() + absl::Milliseconds(1)))
      << "child " << pid << " still exists after the connection was destroyed";
  EXPECT_EQ(CountFds(), before);
}

TEST(ExecTransport, AChildThatIgnoresEndOfStreamAndSigtermIsKilled) {
  ExecTransport::Options o;
  o.term_after = absl::Milliseconds(100);
  o.kill_after = absl::Milliseconds(100);
  ExecTransport t(o);
  pid_t pid = -1;
  {
    auto c = ConnectOrDie(t, PeerAddress("ignore-eof"));
    ASSERT_NE(c, nullptr);
    pid = PidOf(*c);
    ASSERT_TRUE(Ask(*c, "hello").ok());
  }
  EXPECT_TRUE(GoneWithin(pid, absl::Milliseconds(1)));
}

TEST(ExecTransport, SigpipeNeverKillsTheChild) {
  char dir[] = "/tmp/ferry-exec-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string result = absl::StrCat(dir, "/result");
  ExecTransport::Options o;
  o.term_after = kPatience;  // let it finish on its own
  ExecTransport t(o);
  {
    auto c = ConnectOrDie(t, PeerAddress("late-reply", "&arg=--result=" + result));
    ASSERT_NE(c, nullptr);
    OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "reply late");
    ASSERT_TRUE(c->Send({&f, 1}, Soon()).ok());
    // Closing now: the child's replies go to a pipe nobody reads any more.
  }
  std::ifstream in(result);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("survived", 0), 0u) << "the child did not finish: \"" << line << "\"";
  ::unlink(result.c_str());
  ::rmdir(dir);
}

TEST(ExecTransport, TheStdioListenerServesOneConnectionAndOneListenerPerProcess) {
  char dir[] = "/tmp/ferry-exec-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string result = absl::StrCat(dir, "/result");
  ExecTransport::Options o;
  o.term_after = kPatience;
  ExecTransport t(o);
  {
    auto c = ConnectOrDie(t, PeerAddress("listener", "&arg=--result=" + result));
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(Ask(*c, "hello").ok());
    absl::SleepFor(absl::Milliseconds(100));  // the second Accept() is blocked by now
  }
  std::ifstream in(result);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "second_listen=ALREADY_EXISTS blocked_until_close=1 second_accept=UNAVAILABLE");
  ::unlink(result.c_str());
  ::rmdir(dir);
}

TEST(ExecTransport, ManyConnectionsEachHaveTheirOwnChild) {
  ExecTransport t;
  const int before = CountFds();
  {
    std::vector<std::unique_ptr<Connection>> conns;
    for (int i = 0; i < 4; ++i) conns.push_back(ConnectOrDie(t, PeerAddress("echo")));
    for (size_t i = 0; i < conns.size(); ++i) {
      ASSERT_NE(conns[i], nullptr);
      absl::StatusOr<std::string> r = Ask(*conns[i], absl::StrCat("conn ", i));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(*r, absl::StrCat("conn ", i));
    }
    EXPECT_NE(PidOf(*conns[0]), PidOf(*conns[1]));
  }
  EXPECT_EQ(CountFds(), before);
}

}  // namespace
}  // namespace ferry
