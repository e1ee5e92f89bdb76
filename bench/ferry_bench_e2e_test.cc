// Runs the ferry-bench binary for a few seconds over uds and tcp, every implementation and
// every mode, and checks its outputs: exit code, the three files, the JSON schema and that
// every row is there without errors. No timing assertions: these machines are noisy.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/testing/json_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace ferry::bench {
namespace {

using ::ferry::bench::testing::CheckBenchSchema;
using ::ferry::bench::testing::JsonValue;
using ::ferry::bench::testing::ParseJson;
using ::testing::IsEmpty;

std::string BinaryPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "ferry",
                      "/bench/ferry-bench");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Starts ferry-bench with `args`, stdout and stderr to files in `dir` named `prefix`out and
// `prefix`err; returns its pid, or -1.
pid_t SpawnBench(const std::vector<std::string>& args, const std::string& dir,
                 const std::string& prefix) {
  std::vector<std::string> all = {BinaryPath()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir + "/" + prefix + "out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (dir + "/" + prefix + "err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  const int rc = posix_spawn(&pid, all[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Runs ferry-bench with `args`, stdout and stderr to files in `dir`; returns the wait status.
int RunBench(const std::vector<std::string>& args, const std::string& dir) {
  const pid_t pid = SpawnBench(args, dir, "std");
  if (pid < 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

class FerryBenchE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(tmp ? tmp : "/tmp", "/e2e");
    std::filesystem::create_directories(dir_);
  }
  std::string dir_;
};

TEST_F(FerryBenchE2eTest, ShmVariantsRunBesideTheirRawRing) {
  const std::string json = dir_ + "/shm.json";
  const int status = RunBench({"--transports=shm", "--variants=backing=memfd,wake=futex,wake=eventfd",
                               "--sizes=64", "--iterations=200", "--duration=0.2",
                               "--concurrency=1,2", "--modes=latency,throughput",
                               "--json=" + json, "--html=" + dir_ + "/shm.html",
                               "--csv=" + dir_ + "/shm.csv"},
                              dir_);
  const std::string err = ReadFile(dir_ + "/stderr");
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << "\nstderr:\n" << err;
  ASSERT_EQ(WEXITSTATUS(status), 0) << ReadFile(dir_ + "/stdout") << "\nstderr:\n" << err;
  absl::StatusOr<JsonValue> root = ParseJson(ReadFile(json));
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_THAT(CheckBenchSchema(*root), IsEmpty());
  std::set<std::tuple<std::string, std::string, std::string, int>> seen;
  for (const JsonValue& r : root->Find("results")->array) {
    EXPECT_EQ(r.Find("transport")->string, "shm");
    EXPECT_EQ(r.Find("errors")->number, 0) << r.Find("variant")->string;
    seen.insert({r.Find("impl")->string, r.Find("variant")->string, r.Find("mode")->string,
                 static_cast<int>(r.Find("concurrency")->number)});
  }
  // gRPC does not run over shared memory; Ferry and the raw ring do, for each variant.
  std::set<std::tuple<std::string, std::string, std::string, int>> expected;
  for (const char* impl : {"ferry", "raw"}) {
    for (const char* variant : {"backing=memfd,wake=futex", "backing=memfd,wake=eventfd"}) {
      expected.insert({impl, variant, "latency", 1});
      expected.insert({impl, variant, "throughput", 1});
      expected.insert({impl, variant, "throughput", 2});
    }
  }
  EXPECT_EQ(seen, expected);
}

TEST_F(FerryBenchE2eTest, EveryRowOfEveryModeOverUdsAndTcp) {
  const std::string json = dir_ + "/out.json";
  const std::string csv = dir_ + "/out.csv";
  const std::string html = dir_ + "/out.html";
  const int status = RunBench({"--transports=uds,tcp", "--sizes=64,4k", "--iterations=200",
                          "--duration=0.2", "--concurrency=1,2",
                          "--modes=latency,throughput,open_loop", "--json=" + json,
                          "--csv=" + csv, "--html=" + html},
                         dir_);
  const std::string out = ReadFile(dir_ + "/stdout");
  const std::string err = ReadFile(dir_ + "/stderr");
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << "\nstderr:\n" << err;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "stdout:\n" << out << "\nstderr:\n" << err;

  for (const std::string& path : {json, csv, html}) {
    EXPECT_GT(std::filesystem::file_size(path), 0u) << path;
  }
  EXPECT_TRUE(absl::StrContains(ReadFile(html), "<html")) << "not an HTML page";
  // Progress lines go only to a terminal: the test's stderr is a file.
  EXPECT_FALSE(absl::StrContains(err, "\r")) << err;
  for (const char* title : {"latency:", "throughput, 64 B", "throughput, 4 KiB", "open loop"}) {
    EXPECT_TRUE(absl::StrContains(out, title)) << title << "\n" << out;
  }
  EXPECT_TRUE(absl::StrContains(out, "ferry/raw")) << out;
  EXPECT_TRUE(absl::StrContains(out, "grpc/ferry")) << out;

  absl::StatusOr<JsonValue> root = ParseJson(ReadFile(json));
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_THAT(CheckBenchSchema(*root), IsEmpty());
  const JsonValue& setup = *root->Find("setup");
  EXPECT_EQ(setup.Find("iterations")->number, 200);
  EXPECT_EQ(setup.Find("pinning")->string, "none");
  EXPECT_EQ(setup.Find("location")->string, "local");

  // Every (impl, transport, mode, size, concurrency) point, each once, with its figures.
  std::set<std::tuple<std::string, std::string, std::string, uint64_t, int>> seen;
  for (const JsonValue& r : root->Find("results")->array) {
    const std::string impl = r.Find("impl")->string;
    const std::string mode = r.Find("mode")->string;
    const auto key = std::make_tuple(impl, r.Find("transport")->string, mode,
                                     static_cast<uint64_t>(r.Find("size")->number),
                                     static_cast<int>(r.Find("concurrency")->number));
    EXPECT_TRUE(seen.insert(key).second) << "duplicate row " << impl << " " << mode;
    EXPECT_EQ(r.Find("errors")->number, 0) << impl << " " << mode;
    EXPECT_NE(r.Find("p50_us"), nullptr) << impl << " " << mode;
    EXPECT_NE(r.Find("calls_per_s"), nullptr) << impl << " " << mode;
    EXPECT_FALSE(r.Find("percentiles")->array.empty()) << impl << " " << mode;
    EXPECT_EQ(r.Find("offered_calls_per_s") != nullptr, mode == "open_loop") << impl << " " << mode;
    if (mode == "throughput") {
      EXPECT_NE(r.Find("mb_per_s"), nullptr) << impl;
      EXPECT_NE(r.Find("cpu_us_per_call"), nullptr) << impl;
    }
  }
  size_t expected = 0;
  for (const char* impl : {"ferry", "raw", "grpc"}) {
    for (const char* transport : {"uds", "tcp"}) {
      for (uint64_t size : {64, 4096}) {
        for (const char* mode : {"latency", "open_loop"}) {
          EXPECT_EQ(seen.count({impl, transport, mode, size, 1}), 1u)
              << impl << " " << transport << " " << mode << " " << size;
          ++expected;
        }
        for (int c : {1, 2}) {
          EXPECT_EQ(seen.count({impl, transport, "throughput", size, c}), 1u)
              << impl << " " << transport << " throughput " << size << " x" << c;
          ++expected;
        }
      }
    }
  }
  EXPECT_EQ(seen.size(), expected);

  // CSV: the same rows.
  const std::string csv_text = ReadFile(csv);
  size_t rows = 0;
  std::istringstream lines(csv_text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] != '#' && !absl::StartsWith(line, "impl,")) ++rows;
  }
  EXPECT_EQ(rows, expected);
}

// rawpb (the raw mechanism carrying the call's protobuf work) beside ferry and raw, on a
// byte stream, a spawned pipe (whose server is this binary started per connection with
// --serve_impl=rawpb), a message queue and the shared-memory ring, at a size that fits
// one message and one that does not.
TEST_F(FerryBenchE2eTest, TheProtobufRowsRunOnEveryKindOfMechanism) {
  const std::string json = dir_ + "/pb.json";
  const int status =
      RunBench({"--transports=uds,pipe,mq,shm", "--variants=backing=memfd,wake=futex",
                "--impls=ferry,raw,rawpb", "--sizes=64,64k", "--iterations=100",
                "--modes=latency", "--json=" + json, "--html=" + dir_ + "/pb.html",
                "--csv=" + dir_ + "/pb.csv"},
               dir_);
  const std::string out = ReadFile(dir_ + "/stdout");
  const std::string err = ReadFile(dir_ + "/stderr");
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << "\nstderr:\n" << err;
  ASSERT_EQ(WEXITSTATUS(status), 0) << out << "\nstderr:\n" << err;
  EXPECT_TRUE(absl::StrContains(out, "ferry/rawpb")) << out;
  EXPECT_TRUE(absl::StrContains(ReadFile(dir_ + "/pb.html"), "protobuf work"));
  absl::StatusOr<JsonValue> root = ParseJson(ReadFile(json));
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_THAT(CheckBenchSchema(*root), IsEmpty());
  std::set<std::tuple<std::string, std::string, uint64_t>> seen;
  for (const JsonValue& r : root->Find("results")->array) {
    EXPECT_EQ(r.Find("errors")->number, 0) << r.Find("impl")->string;
    EXPECT_NE(r.Find("p50_us"), nullptr) << r.Find("impl")->string;
    seen.insert({r.Find("impl")->string, r.Find("transport")->string,
                 static_cast<uint64_t>(r.Find("size")->number)});
  }
  std::set<std::tuple<std::string, std::string, uint64_t>> expected;
  for (const char* impl : {"ferry", "raw", "rawpb"}) {
    for (const char* transport : {"uds", "pipe", "mq", "shm"}) {
      for (uint64_t size : {64, 65536}) expected.insert({impl, transport, size});
    }
  }
  EXPECT_EQ(seen, expected);
}

// --serve on one side, --connect on the other (here both on loopback): the raw and rawpb
// peers are found on the ports after Ferry's, as --serve placed them.
TEST_F(FerryBenchE2eTest, ServeAndConnectFindEveryPeer) {
  // With port 0, --serve puts the other peers on the ports after the one Ferry got, and
  // another process on the machine may hold one of them: --serve then exits, and the
  // test starts it again (a few times) rather than fail on someone else's socket.
  pid_t server = -1;
  std::string ferry_address;
  for (int attempt = 0; attempt < 5 && ferry_address.empty(); ++attempt) {
    server = SpawnBench({"--serve=tcp://127.0.0.1:0", "--serve_impl=ferry,raw,rawpb"}, dir_,
                        "serve_");
    ASSERT_GT(server, 0);
    for (int i = 0; i < 400; ++i) {  // up to 20 s for three "serving" lines
      const std::string lines = ReadFile(dir_ + "/serve_out");
      size_t count = 0;
      for (size_t at = lines.find("serving "); at != std::string::npos;
           at = lines.find("serving ", at + 1)) {
        ++count;
      }
      const std::string prefix = "serving ferry on ";
      if (const size_t at = lines.find(prefix); count >= 3 && at != std::string::npos) {
        ferry_address =
            lines.substr(at + prefix.size(), lines.find('\n', at) - at - prefix.size());
        break;
      }
      int exited = 0;
      if (waitpid(server, &exited, WNOHANG) == server) break;  // gave up: try again
      usleep(50000);
    }
  }
  ASSERT_FALSE(ferry_address.empty()) << ReadFile(dir_ + "/serve_out") << "\n"
                                      << ReadFile(dir_ + "/serve_err");
  const std::string json = dir_ + "/remote.json";
  const int status = RunBench({"--connect=" + ferry_address, "--impls=ferry,raw,rawpb",
                               "--sizes=64", "--iterations=100", "--modes=latency",
                               "--json=" + json, "--html=" + dir_ + "/remote.html",
                               "--csv=" + dir_ + "/remote.csv"},
                              dir_);
  ::kill(server, SIGTERM);
  int server_status = 0;
  while (waitpid(server, &server_status, 0) < 0 && errno == EINTR) {
  }
  const std::string err = ReadFile(dir_ + "/stderr");
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << "\nstderr:\n" << err;
  ASSERT_EQ(WEXITSTATUS(status), 0) << ReadFile(dir_ + "/stdout") << "\nstderr:\n" << err;
  absl::StatusOr<JsonValue> root = ParseJson(ReadFile(json));
  ASSERT_TRUE(root.ok()) << root.status();
  std::set<std::string> impls;
  for (const JsonValue& r : root->Find("results")->array) {
    EXPECT_EQ(r.Find("errors")->number, 0) << r.Find("impl")->string;
    impls.insert(r.Find("impl")->string);
  }
  EXPECT_EQ(impls, (std::set<std::string>{"ferry", "raw", "rawpb"}));
}

TEST_F(FerryBenchE2eTest, BadFlagsFailWithAMessage) {
  const int status = RunBench({"--transports=carrier-pigeon"}, dir_);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_TRUE(absl::StrContains(ReadFile(dir_ + "/stderr"), "carrier-pigeon"));
}

}  // namespace
}  // namespace ferry::bench
