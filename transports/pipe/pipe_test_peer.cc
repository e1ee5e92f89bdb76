// The program exec_transport_test spawns. --mode picks a behaviour:
//   echo        serve stdio:-, echo every frame; a kPing "fds" is answered with the fds
//               open at start-up, "argv" with the arguments; prints noise to stdout
//               after listening (it must land on stderr, not in the frames); exits 0 when
//               the peer is gone.
//   exit        exit(3) at once.
//   grandchild  fork a grandchild that keeps stdin/stdout open until stdin ends, exit.
//   ignore-eof  serve, then ignore end of stream and SIGTERM: sleep until killed.
//   listener    as echo, and checks the stdio:- listener: a second Listen() is
//               ALREADY_EXISTS, a second Accept() blocks until Close() and then is
//               UNAVAILABLE; writes what it saw to --result.
//   late-reply  receive one frame, sleep while the peer goes away, then send 200 replies;
//               write "survived <code>" to --result (SIGPIPE would have killed us).
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <atomic>
#include <thread>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "runtime/frame.h"
#include "transports/pipe/stdio_transport.h"

namespace {

std::string OpenFds() {
  std::vector<std::string> fds;
  DIR* d = ::opendir("/proc/self/fd");
  const int own = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' || std::to_string(own) == e->d_name) continue;
    fds.push_back(e->d_name);
  }
  ::closedir(d);
  std::sort(fds.begin(), fds.end());
  return absl::StrJoin(fds, ",");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string fds_at_start = OpenFds();
  std::string mode, result;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--mode=", 0) == 0) mode = a.substr(7);
    if (a.rfind("--result=", 0) == 0) result = a.substr(9);
  }
  if (mode == "exit") return 3;
  if (mode == "grandchild") {
    if (::fork() == 0) {
      char c;
      while (::read(0, &c, 1) > 0) {
      }
      _exit(0);
    }
    return 0;
  }

  if (mode == "ignore-eof") ::signal(SIGTERM, SIG_IGN);
  absl::Notification peer_gone;
  ferry::StdioTransport::Options options;
  options.on_peer_gone = [&] { peer_gone.Notify(); };
  ferry::StdioTransport stdio(options);
  auto listener = stdio.Listen(*ferry::Address::Parse("stdio:-"), {});
  if (!listener.ok()) {
    std::cerr << "pipe_test_peer: " << listener.status() << std::endl;
    return 1;
  }
  std::cout << "noise on stdout that must not reach the client" << std::endl;
  std::printf("more noise\n");
  std::fflush(stdout);
  auto conn = (*listener)->Accept();
  if (!conn.ok()) return 1;
  std::string second_listen, second_accept;
  std::atomic<bool> second_returned{false};
  std::thread second;
  if (mode == "listener") {
    second_listen = absl::StatusCodeToString(
        stdio.Listen(*ferry::Address::Parse("stdio:-"), {}).status().code());
    second = std::thread([&] {
      second_accept = absl::StatusCodeToString((*listener)->Accept().status().code());
      second_returned = true;
    });
  }
  if (mode == "late-reply") {
    auto f = (*conn)->Receive(absl::InfiniteFuture());
    // The peer closes right after its frame: by the time we write, nobody reads. (Not
    // reading here on purpose: a Receive would see end of stream and make Send fail
    // without touching the pipe.)
    absl::SleepFor(absl::Milliseconds(500));
    absl::Status s;
    ferry::OutFrame out = ferry::MakeFrame(ferry::FrameType::kMessage, 0, 1, "late");
    for (int i = 0; i < 200 && s.ok(); ++i) s = (*conn)->Send({&out, 1}, absl::Now() + absl::Seconds(5));
    std::ofstream(result) << "survived " << absl::StatusCodeToString(s.code()) << "\n";
    return 0;
  }
  for (;;) {
    auto f = (*conn)->Receive(absl::InfiniteFuture());
    if (!f.ok()) break;
    std::string payload(f->payload);
    if (f->header.type == ferry::FrameType::kPing && payload == "fds") payload = fds_at_start;
    if (f->header.type == ferry::FrameType::kPing && payload == "argv") {
      payload = absl::StrJoin(std::vector<std::string>(argv + 1, argv + argc), "\n");
    }
    ferry::OutFrame out = ferry::MakeFrame(f->header.type, f->header.flags, f->header.call_id, payload);
    if (!(*conn)->Send({&out, 1}, absl::InfiniteFuture()).ok()) break;
  }
  if (mode == "ignore-eof") {
    for (;;) ::pause();
  }
  if (mode == "listener") {
    const bool blocked = !second_returned.load();
    (*listener)->Close();
    second.join();
    std::ofstream(result) << "second_listen=" << second_listen << " blocked_until_close="
                          << blocked << " second_accept=" << second_accept << "\n";
  }
  (*conn)->Close();
  (*listener)->Close();
  return 0;
}
