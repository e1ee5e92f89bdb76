// fifo: the transport conformance suite, plus the rendezvous: concurrent announcements,
// permissions, cleanup of the directory, and clients killed at every point of the
// handshake (a helper process, fifo_test_peer, dies with SIGKILL).
#include "transports/fifo/fifo_transport.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/frame.h"
#include "transports/testing/transport_conformance.h"

extern char** environ;

namespace ferry {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(10);
absl::Time Soon() { return absl::Now() + kPatience; }

// The raw tests write into the client's .up FIFO; the .down end must stay open for the
// connection to stay up, so it is parked here until the process exits.
std::mutex parked_mu;
std::vector<UniqueFd>* parked = new std::vector<UniqueFd>();

absl::StatusOr<UniqueFd> RawConnect(const std::string& address) {
  absl::StatusOr<FifoPair> pair =
      FifoConnectRaw(address.substr(5), Soon(), /*wait_for_accept=*/false);
  if (!pair.ok()) return pair.status();
  std::lock_guard<std::mutex> lock(parked_mu);
  parked->push_back(std::move(pair->read));
  parked->push_back(std::move(pair->hold));
  parked->push_back(std::move(pair->requests));
  return std::move(pair->write);
}

INSTANTIATE_TEST_SUITE_P(
    Fifo, TransportConformanceTest,
    ::testing::Values(TransportConformanceParam{
        "Fifo", [] { return std::make_unique<FifoTransport>(); },
        [](const std::string& dir) { return "fifo:" + dir + "/srv"; }, RawConnect}),
    TransportConformanceName);

// A scratch directory removed at the end of each test.
class FifoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-fifo-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/srv";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  std::vector<std::string> Entries(const std::string& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  std::unique_ptr<Listener> ListenOrDie() {
    auto l = transport_.Listen(*Address::Parse("fifo:" + dir_), {});
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? *std::move(l) : nullptr;
  }
  std::unique_ptr<Connection> ConnectOrDie() {
    auto c = transport_.Connect(*Address::Parse("fifo:" + dir_), {}, Soon());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }
  // Runs fifo_test_peer with `args` and waits for it; returns its pid and wait status.
  std::pair<pid_t, int> RunPeer(const std::vector<std::string>& args) {
    const char* srcdir = std::getenv("TEST_SRCDIR");
    const char* ws = std::getenv("TEST_WORKSPACE");
    const std::string bin = absl::StrCat(srcdir ? srcdir : ".", "/", ws ? ws : "ferry",
                                         "/transports/fifo/fifo_test_peer");
    std::vector<char*> argv = {const_cast<char*>(bin.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    EXPECT_EQ(::posix_spawn(&pid, bin.c_str(), nullptr, nullptr, argv.data(), environ), 0);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return {pid, status};
  }

  FifoTransport transport_;
  std::string root_, dir_;
};

int CountFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n - 1;
}

TEST_F(FifoTest, RequestFifoAndDirectoryAreOwnerOnlyWhateverTheUmask) {
  const mode_t old = ::umask(0);
  auto l = ListenOrDie();
  ::umask(old);
  ASSERT_NE(l, nullptr);
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/" + kFifoRequestsName).c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(FifoTest, ClosingEverythingLeavesNoFifoNoDirectoryAndNoFd) {
  const int before = CountFds();
  {
    auto l = ListenOrDie();
    ASSERT_NE(l, nullptr);
    std::vector<std::unique_ptr<Connection>> clients, servers;
    for (int i = 0; i < 5; ++i) {
      clients.push_back(ConnectOrDie());
      auto s = l->Accept();
      ASSERT_TRUE(s.ok()) << s.status();
      servers.push_back(*std::move(s));
    }
    // During the connections only the request FIFO has a name.
    EXPECT_EQ(Entries(dir_), std::vector<std::string>{kFifoRequestsName});
    for (auto& c : clients) c->Close();
    for (auto& s : servers) {
      EXPECT_EQ(s->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
    }
    l->Close();
    EXPECT_FALSE(std::filesystem::exists(dir_)) << "the listener created it, so it removes it";
  }
  EXPECT_EQ(CountFds(), before);
  // A directory that existed before is left, empty.
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  {
    auto l = ListenOrDie();
    ASSERT_NE(l, nullptr);
    auto c = ConnectOrDie();
    ASSERT_TRUE(l->Accept().ok());
  }
  EXPECT_TRUE(Entries(dir_).empty());
}

TEST_F(FifoTest, ConcurrentAnnouncementsNeverInterleave) {
  auto l = ListenOrDie();
  ASSERT_NE(l, nullptr);
  constexpr int kClients = 48;
  std::vector<std::unique_ptr<Connection>> clients(kClients);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto c = transport_.Connect(*Address::Parse("fifo:" + dir_), {}, Soon());
      if (!c.ok()) {
        ++failures;
        return;
      }
      const std::string id = absl::StrCat("client ", i);
      OutFrame f = MakeFrame(FrameType::kMessage, 0, static_cast<uint32_t>(i + 1), id);
      if (!(*c)->Send({&f, 1}, Soon()).ok()) ++failures;
      clients[i] = *std::move(c);
    });
  }
  std::set<std::string> seen;
  for (int i = 0; i < kClients; ++i) {
    auto s = l->Accept();
    ASSERT_TRUE(s.ok()) << s.status();
    absl::StatusOr<Frame> f = (*s)->Receive(Soon());
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->payload, absl::StrCat("client ", f->header.call_id - 1));
    seen.insert(std::string(f->payload));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kClients));
  EXPECT_EQ(Entries(dir_), std::vector<std::string>{kFifoRequestsName});
}

TEST_F(FifoTest, GarbageOnTheRequestFifoIsSkipped) {
  auto l = ListenOrDie();
  ASSERT_NE(l, nullptr);
  const int req = ::open((dir_ + "/" + kFifoRequestsName).c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(req, 0);
  const std::string junk = "GET / HTTP/1.1\nferry-fifo1 1 ../../etc/passwd\nferry-fifo1 x y\n" +
                           std::string(3000, 'z') + "\n";
  ASSERT_EQ(::write(req, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  ::close(req);
  auto c = ConnectOrDie();
  ASSERT_NE(c, nullptr);
  auto s = l->Accept();
  ASSERT_TRUE(s.ok()) << s.status();
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "after garbage");
  ASSERT_TRUE(c->Send({&f, 1}, Soon()).ok());
  auto got = (*s)->Receive(Soon());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, "after garbage");
}

TEST_F(FifoTest, AClientKilledAfterAnnouncingDoesNotWedgeTheServerAndIsCleanedUp) {
  auto l = ListenOrDie();
  ASSERT_NE(l, nullptr);
  auto [pid, status] = RunPeer({dir_, "after-announce"});
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  // Its announcement is queued ahead of ours: Accept must skip it without blocking.
  auto c = ConnectOrDie();
  ASSERT_NE(c, nullptr);
  auto s = l->Accept();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NE((*s)->PeerDescription().find(absl::StrCat("pid=", getpid())), std::string::npos);
  EXPECT_EQ(Entries(dir_), std::vector<std::string>{kFifoRequestsName});
}

TEST_F(FifoTest, AClientKilledBeforeAnnouncingIsSweptByTheNextListenOnly) {
  {
    auto l = ListenOrDie();
    ASSERT_NE(l, nullptr);
    auto [pid, status] = RunPeer({dir_, "before-announce"});
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    EXPECT_EQ(Entries(dir_).size(), 3u);  // its pair is left; nobody knows of it yet
    // A live client's FIFOs (ours, by name) must survive a sweep.
    const std::string live = absl::StrCat(dir_, "/c", getpid(), "-99-00000000.up");
    ASSERT_EQ(::mkfifo(live.c_str(), 0600), 0);
    auto c = ConnectOrDie();  // the server is not wedged
    ASSERT_TRUE(l->Accept().ok());
  }
  // The listener did not create... it did create the directory, but it is not empty.
  auto l = ListenOrDie();
  ASSERT_NE(l, nullptr);
  std::vector<std::string> left = Entries(dir_);
  EXPECT_EQ(left, (std::vector<std::string>{absl::StrCat("c", getpid(), "-99-00000000.up"),
                                            kFifoRequestsName}));
}

TEST_F(FifoTest, ClientsKilledAtRandomPointsNeverWedgeTheServer) {
  auto l = ListenOrDie();
  ASSERT_NE(l, nullptr);
  // Accept continuously; count what completes.
  std::atomic<int> accepted{0};
  std::vector<std::unique_ptr<Connection>> servers;
  std::mutex mu;
  std::thread acceptor([&] {
    for (;;) {
      auto s = l->Accept();
      if (!s.ok()) return;
      std::lock_guard<std::mutex> lock(mu);
      servers.push_back(*std::move(s));
      ++accepted;
    }
  });
  std::mt19937 rng(20261122);
  for (int i = 0; i < 20; ++i) {
    auto [pid, status] = RunPeer({dir_, "random", absl::StrCat(rng() % 3000)});
    EXPECT_TRUE(WIFSIGNALED(status)) << status;
    // After every death a live client still gets in.
    auto c = ConnectOrDie();
    ASSERT_NE(c, nullptr) << "server wedged after a client died (round " << i << ")";
  }
  // Connections of the dead clients all end.
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& s : servers) {
      absl::StatusOr<Frame> f = s->Receive(absl::Now() + absl::Milliseconds(10));
      EXPECT_NE(f.status().code(), absl::StatusCode::kOk);
    }
  }
  l->Close();
  acceptor.join();
  // Whatever a dead client left is swept (dead pids only) by the next start.
  auto again = ListenOrDie();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(Entries(dir_), std::vector<std::string>{kFifoRequestsName});
}

TEST_F(FifoTest, AKilledConnectedPeerIsUnavailable) {
  auto l = ListenOrDie();
  ASSERT_NE(l, nullptr);
  std::thread peer([&] { RunPeer({dir_, "connected"}); });
  auto s = l->Accept();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->Receive(Soon()).status().code(), absl::StatusCode::kUnavailable);
  OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, std::string(200000, 'x'));
  EXPECT_EQ((*s)->Send({&f, 1}, Soon()).code(), absl::StatusCode::kUnavailable);
  peer.join();
}

TEST_F(FifoTest, ConnectWithoutAServerIsUnavailableAndLeavesNothing) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  auto c = transport_.Connect(*Address::Parse("fifo:" + dir_), {}, Soon());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
  EXPECT_TRUE(Entries(dir_).empty());
  // A request FIFO left by a dead server: also UNAVAILABLE (ENXIO), and Listen replaces it.
  ASSERT_EQ(::mkfifo((dir_ + "/" + kFifoRequestsName).c_str(), 0600), 0);
  c = transport_.Connect(*Address::Parse("fifo:" + dir_), {}, Soon());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
  EXPECT_NE(ListenOrDie(), nullptr);
  auto rel = transport_.Listen(*Address::Parse("fifo:relative/dir"), {});
  EXPECT_EQ(rel.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FifoTest, ANonFifoInTheWayIsNotReplaced) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  const std::string path = dir_ + "/" + kFifoRequestsName;
  ::close(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  auto l = transport_.Listen(*Address::Parse("fifo:" + dir_), {});
  EXPECT_EQ(l.status().code(), absl::StatusCode::kAlreadyExists) << l.status();
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

}  // namespace
}  // namespace ferry
