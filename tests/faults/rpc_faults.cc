#include "tests/faults/rpc_faults.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/channel.h"
#include "tests/conformance/child_server.h"
#include "tests/conformance/conformance.ferry.h"
#include "transports/default_transports.h"

extern char** environ;

namespace ferry::faults {
namespace {

using conformance::ChildServer;
using conformance::Conformance;

constexpr int kClientProcesses = 4;
constexpr int kThreadsPerClient = 2;
constexpr int kSurvivors = 6;
constexpr absl::Duration kCallTimeout = absl::Seconds(30);

uint32_t Seed() {
  const char* v = std::getenv("FERRY_FAULT_SEED");
  uint32_t seed = 0;
  if (v != nullptr && absl::SimpleAtoi(v, &seed)) return seed;
  return std::random_device{}();
}

std::string Describe(const FaultParam& p, uint32_t seed, const std::string& sizes) {
  return absl::StrCat("transport ", p.rpc.name, ", seed ", seed, ", ", sizes,
                      "; rerun: bazel test //tests/faults:fault_test --test_env=FERRY_FAULT_SEED=",
                      seed, " --test_filter='*", p.rpc.name, "'");
}

std::string RunfilesPath(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "ferry", "/", path);
}

// A fault_client process; SIGKILLed and reaped by Kill() or the destructor.
class ClientProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ClientProcess>> Start(const std::string& address,
                                                              uint32_t seed) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    std::vector<std::string> args = {RunfilesPath("tests/faults/fault_client"),
                                     absl::StrCat("--address=", address),
                                     absl::StrCat("--seed=", seed),
                                     absl::StrCat("--threads=", kThreadsPerClient)};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    auto p = std::unique_ptr<ClientProcess>(new ClientProcess);
    const int rc = posix_spawn(&p->pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      p->pid_ = -1;
      return absl::InternalError(absl::StrCat("cannot start ", args[0], ": error ", rc));
    }
    std::string text;
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (text.find('\n') == std::string::npos) {
      pollfd pfd{out[0], POLLIN, 0};
      const int left = static_cast<int>(absl::ToInt64Milliseconds(give_up - absl::Now()));
      if (left <= 0 || ::poll(&pfd, 1, left) <= 0) break;
      char buf[64];
      const ssize_t n = ::read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      text.append(buf, n);
    }
    ::close(out[0]);
    if (text != "ready\n") {
      return absl::InternalError(absl::StrCat("fault_client did not get ready; printed \"",
                                              text, "\""));
    }
    return p;
  }
  ~ClientProcess() { Kill(); }
  pid_t pid() const { return pid_; }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  ClientProcess() = default;
  pid_t pid_ = -1;
};

absl::Status Echo(Conformance::Stub& stub, size_t size) {
  ClientContext ctx;
  ctx.set_timeout(kCallTimeout);
  conformance::EchoRequest req;
  req.set_payload(std::string(size, 'e'));
  absl::StatusOr<conformance::EchoReply> r = stub.Echo(ctx, req);
  if (!r.ok()) return r.status();
  if (r->payload().size() != size) return absl::InternalError("echo of the wrong size");
  return absl::OkStatus();
}

// Leftovers not in `expected`, after waiting up to 3 s for them to go (a server that saw a
// client die cleans up on its reader thread, a moment later).
std::vector<std::string> Unexpected(const FaultParam& p, const std::string& bound,
                                    const std::vector<pid_t>& pids,
                                    const std::vector<std::string>& expected) {
  std::vector<std::string> extra;
  const absl::Time give_up = absl::Now() + absl::Seconds(3);
  do {
    extra.clear();
    for (std::string& s : p.leftovers(bound, pids)) {
      if (std::find(expected.begin(), expected.end(), s) == expected.end()) {
        extra.push_back(std::move(s));
      }
    }
    if (extra.empty()) break;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < give_up);
  return extra;
}

bool ExitedCleanly(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

}  // namespace

std::string FaultParamName(const testing::TestParamInfo<FaultParam>& info) {
  return info.param.rpc.name;
}

TEST_P(RpcFaults, ClientsKilledAtRandomPointsLeaveTheServerServingAndNothingBehind) {
  const FaultParam& p = GetParam();
  if (p.rpc.channel_spawns_server) {
    GTEST_SKIP() << p.rpc.name << ": each channel spawns its own server; the conformance "
                 << "suite's SIGKILL cases cover that child";
  }
  const uint32_t seed = Seed();
  const std::string what =
      Describe(p, seed, absl::StrCat(kClientProcesses, " client processes x ", kThreadsPerClient,
                                     " threads killed, 1 survivor"));
  SCOPED_TRACE(what);
  std::printf("faults: %s\n", what.c_str());
  std::mt19937 rng(seed);

  absl::StatusOr<ChildServer> server = ChildServer::Start(p.rpc.make_address());
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string bound = server->address();
  std::vector<pid_t> pids = {server->pid(), ::getpid()};
  const std::vector<std::string> baseline = p.leftovers(bound, pids);

  // A survivor calls all along; not one of its calls may fail.
  std::atomic<bool> stop{false};
  std::atomic<int> survivor_calls{0};
  absl::Status survivor_error;
  auto channel = Channel::Create(bound, DefaultTransports());
  ASSERT_TRUE(channel.ok()) << channel.status();
  Conformance::Stub survivor(*channel);
  std::thread survivor_thread([&, seed] {
    std::mt19937 r(seed + 1);
    while (!stop.load()) {
      absl::Status s = Echo(survivor, r() % (64 << 10));
      if (!s.ok()) {
        survivor_error = s;
        return;
      }
      ++survivor_calls;
    }
  });

  std::vector<std::unique_ptr<ClientProcess>> clients;
  for (int i = 0; i < kClientProcesses; ++i) {
    absl::StatusOr<std::unique_ptr<ClientProcess>> c = ClientProcess::Start(bound, rng());
    ASSERT_TRUE(c.ok()) << c.status();
    pids.push_back((*c)->pid());
    clients.push_back(*std::move(c));
  }
  for (auto& c : clients) {
    absl::SleepFor(absl::Milliseconds(rng() % 300));
    c->Kill();
  }
  absl::SleepFor(absl::Milliseconds(200));
  stop.store(true);
  survivor_thread.join();
  EXPECT_TRUE(survivor_error.ok()) << "the survivor's call failed: " << survivor_error;
  EXPECT_GT(survivor_calls.load(), 0);

  int status = 0;
  ASSERT_EQ(::waitpid(server->pid(), &status, WNOHANG), 0)
      << "the server died with its clients: wait status " << status;
  auto fresh = Channel::Create(bound, DefaultTransports());
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  Conformance::Stub fresh_stub(*fresh);
  EXPECT_TRUE(Echo(fresh_stub, 100).ok()) << "a new client is not served";

  const std::vector<std::string> extra = Unexpected(p, bound, pids, baseline);
  EXPECT_TRUE(extra.empty()) << "left behind by the killed clients: "
                             << absl::StrJoin(extra, ", ");

  fresh->reset();
  channel->reset();
  EXPECT_TRUE(ExitedCleanly(server->Kill(SIGTERM))) << "server did not exit cleanly";
  const std::vector<std::string> left = Unexpected(p, bound, pids, {});
  EXPECT_TRUE(left.empty()) << "left behind after the server's exit: " << absl::StrJoin(left, ", ");
}

TEST_P(RpcFaults, ServerKilledAtARandomPointIsUnavailableForEverySurvivor) {
  const FaultParam& p = GetParam();
  if (p.rpc.channel_spawns_server) {
    GTEST_SKIP() << p.rpc.name << ": each channel spawns its own server; the conformance "
                 << "suite's SIGKILL cases cover that child";
  }
  const uint32_t seed = Seed();
  const std::string what = Describe(
      p, seed, absl::StrCat(kSurvivors, " survivor channels (1/3 in 20 s calls), deadline ",
                            absl::FormatDuration(kCallTimeout)));
  SCOPED_TRACE(what);
  std::printf("faults: %s\n", what.c_str());
  std::mt19937 rng(seed);

  absl::StatusOr<ChildServer> server = ChildServer::Start(p.rpc.make_address());
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string bound = server->address();
  const pid_t server_pid = server->pid();
  const std::vector<pid_t> pids = {server_pid, ::getpid()};

  struct Survivor {
    std::shared_ptr<Channel> channel;
    std::unique_ptr<Conformance::Stub> stub;
    std::atomic<bool> started{false};
    absl::Status first_error;
    absl::Time failed_at;
    absl::Time deadline;
  };
  std::vector<std::unique_ptr<Survivor>> survivors;
  std::vector<std::thread> threads;
  for (int i = 0; i < kSurvivors; ++i) {
    auto s = std::make_unique<Survivor>();
    auto channel = Channel::Create(bound, DefaultTransports());
    ASSERT_TRUE(channel.ok()) << channel.status();
    s->channel = *channel;
    s->stub = std::make_unique<Conformance::Stub>(s->channel);
    survivors.push_back(std::move(s));
  }
  for (int i = 0; i < kSurvivors; ++i) {
    threads.emplace_back([&, i, r = rng()]() mutable {
      Survivor& s = *survivors[i];
      std::mt19937 local(r);
      for (;;) {
        ClientContext ctx;
        ctx.set_timeout(kCallTimeout);
        const absl::Time deadline = absl::Now() + kCallTimeout;
        absl::Status status;
        if (i % 3 == 0) {
          conformance::SleepRequest req;  // in flight when the server dies
          req.set_ms(20000);
          s.started.store(true);
          status = s.stub->Sleep(ctx, req).status();
        } else {
          conformance::EchoRequest req;
          req.set_payload(std::string(local() % (256 << 10), 'k'));
          status = s.stub->Echo(ctx, req).status();
          s.started.store(true);
        }
        if (!status.ok()) {
          s.first_error = status;
          s.failed_at = absl::Now();
          s.deadline = deadline;
          return;
        }
      }
    });
  }
  for (auto& s : survivors) {
    while (!s->started.load()) absl::SleepFor(absl::Milliseconds(1));
  }
  absl::SleepFor(absl::Milliseconds(rng() % 500));
  const absl::Time killed_at = absl::Now();
  server->Kill(SIGKILL);
  for (std::thread& t : threads) t.join();

  for (int i = 0; i < kSurvivors; ++i) {
    const Survivor& s = *survivors[i];
    EXPECT_EQ(s.first_error.code(), absl::StatusCode::kUnavailable)
        << "survivor " << i << ": " << s.first_error;
    EXPECT_LT(s.failed_at, s.deadline) << "survivor " << i;
    std::printf("faults: survivor %d saw %s %s after the kill\n", i,
                absl::StatusCodeToString(s.first_error.code()).c_str(),
                absl::FormatDuration(s.failed_at - killed_at).c_str());
    // The next call fails the same way: nobody is listening.
    EXPECT_EQ(Echo(*s.stub, 10).code(), absl::StatusCode::kUnavailable) << "survivor " << i;
  }

  std::vector<std::string> expected;
  if (p.left_by_killed_server) expected = p.left_by_killed_server(bound);
  std::vector<std::string> extra = Unexpected(p, bound, pids, expected);
  EXPECT_TRUE(extra.empty()) << "left behind by the killed server: " << absl::StrJoin(extra, ", ");

  // The next server on the address takes it over, the survivors' channels reconnect, and
  // after its graceful exit nothing at all is left.
  absl::StatusOr<ChildServer> second = ChildServer::Start(p.rpc.rebind_address(bound));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->address(), bound);
  EXPECT_TRUE(Echo(*survivors[1]->stub, 1000).ok()) << "no reconnect to the new server";
  std::vector<pid_t> all = pids;
  all.push_back(second->pid());
  survivors.clear();
  EXPECT_TRUE(ExitedCleanly(second->Kill(SIGTERM))) << "second server did not exit cleanly";
  extra = Unexpected(p, bound, all, {});
  EXPECT_TRUE(extra.empty()) << "left behind after the second server's exit: "
                             << absl::StrJoin(extra, ", ");
}

// ---- Parameters for the built-in transports -------------------------------------------------

std::vector<std::string> FilesWithPrefix(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (absl::StartsWith(e->d_name, prefix)) out.push_back(absl::StrCat(dir, "/", e->d_name));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> AbstractSockets(const std::string& name) {
  // Lines: "Num RefCount Protocol Flags Type St Inode Path"; abstract paths start with '@'.
  // Flags 00010000 (__SO_ACCEPTCON) marks a listening socket.
  std::vector<std::string> out;
  std::ifstream in("/proc/net/unix");
  std::string line;
  const std::string want = "@" + name;
  while (std::getline(in, line)) {
    if (absl::EndsWith(line, " " + want) && line.find(" 00010000 ") != std::string::npos) {
      out.push_back(absl::StrCat("listening abstract socket ", want));
    }
  }
  return out;
}

namespace {

std::string PathOf(const std::string& unix_address) {
  return unix_address.substr(unix_address.find(':') + 1);
}

}  // namespace

FaultParam UdsFaultParam() {
  FaultParam p;
  p.rpc = conformance::UdsParam();
  p.leftovers = [](const std::string& bound, const std::vector<pid_t>&) {
    std::vector<std::string> out;
    struct stat st;
    if (::lstat(PathOf(bound).c_str(), &st) == 0) {
      out.push_back(absl::StrCat("socket file ", PathOf(bound)));
    }
    return out;
  };
  // The kernel does not remove a socket file when its process dies.
  p.left_by_killed_server = [](const std::string& bound) {
    return std::vector<std::string>{absl::StrCat("socket file ", PathOf(bound))};
  };
  return p;
}

FaultParam TcpFaultParam() {
  FaultParam p;
  p.rpc = conformance::TcpParam();
  // Nothing in the file system; a listener still accepting on the port is the leftover.
  p.leftovers = [](const std::string& bound, const std::vector<pid_t>&) {
    std::vector<std::string> out;
    int port = 0;
    if (!absl::SimpleAtoi(bound.substr(bound.rfind(':') + 1), &port)) return out;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
      out.push_back(absl::StrCat("a listener on port ", port));
    }
    ::close(fd);
    return out;
  };
  return p;
}

FaultParam ShmFaultParam(const std::string& backing, const std::string& wake) {
  FaultParam p;
  p.rpc.name = absl::StrCat("shm_", backing, "_", wake);
  p.rpc.make_address = [backing, wake] {
    // Abstract names are shared by parallel test sandboxes (same pids): add a random token.
    static const std::string token = absl::StrCat(absl::Hex(std::random_device{}()));
    static std::atomic<int> n{0};
    return absl::StrCat("shm://faults-", ::getpid(), "-", token, "-", n.fetch_add(1),
                        "?backing=", backing, "&wake=", wake);
  };
  p.rpc.rebind_address = [](const std::string& bound) { return bound; };
  // Segments are named after the creating process (shm_segment.cc: "ferry-shm.<pid>."),
  // in /dev/shm (backing=shm) or the backing directory, default /tmp (backing=file without
  // O_TMPFILE); the rendezvous is an abstract socket "ferry-shm/<name>".
  p.leftovers = [](const std::string& bound, const std::vector<pid_t>& pids) {
    std::vector<std::string> out;
    for (pid_t pid : pids) {
      for (const char* dir : {"/dev/shm", "/tmp"}) {
        for (std::string& f : FilesWithPrefix(dir, absl::StrCat("ferry-shm.", pid, "."))) {
          out.push_back(std::move(f));
        }
      }
    }
    std::string name = bound.substr(bound.find("//") + 2);
    name = name.substr(0, name.find('?'));
    for (std::string& s : AbstractSockets("ferry-shm/" + name)) out.push_back(std::move(s));
    return out;
  };
  return p;
}

}  // namespace ferry::faults
