// A fifo: client that dies with SIGKILL at a chosen point, for fifo_transport_test.
//   fifo_test_peer <dir> before-announce   create and open its FIFO pair, then die
//   fifo_test_peer <dir> after-announce    ... announce it too, then die before the accept
//   fifo_test_peer <dir> random <us>       run the real handshake (FifoConnectRaw) and die
//                                          after <us> microseconds, wherever it is
//   fifo_test_peer <dir> connected         complete the handshake, print "connected", die
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "transports/fifo/fifo_transport.h"

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string dir = argv[1];
  const std::string mode = argv[2];
  const std::string stem = absl::StrCat("c", getpid(), "-0-0badf00d");
  if (mode == "before-announce" || mode == "after-announce") {
    const std::string up = absl::StrCat(dir, "/", stem, ".up");
    const std::string down = absl::StrCat(dir, "/", stem, ".down");
    if (mkfifo(up.c_str(), 0600) != 0 || mkfifo(down.c_str(), 0600) != 0) return 3;
    open(up.c_str(), O_RDWR | O_NONBLOCK);
    open(down.c_str(), O_RDONLY | O_NONBLOCK);
    if (mode == "after-announce") {
      const int req = open(absl::StrCat(dir, "/", ferry::kFifoRequestsName).c_str(),
                           O_WRONLY | O_NONBLOCK);
      const std::string line = absl::StrCat("ferry-fifo1 ", getpid(), " ", stem, "\n");
      if (req < 0 || write(req, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        return 4;
      }
    }
    raise(SIGKILL);
  }
  if (mode == "random" && argc > 3) {
    const int us = std::atoi(argv[3]);
    std::thread killer([us] {
      usleep(static_cast<useconds_t>(us));
      raise(SIGKILL);
    });
    auto pair = ferry::FifoConnectRaw(dir, absl::Now() + absl::Seconds(10));
    killer.join();
  }
  if (mode == "connected") {
    auto pair = ferry::FifoConnectRaw(dir, absl::Now() + absl::Seconds(10));
    if (!pair.ok()) return 5;
    std::printf("connected\n");
    std::fflush(stdout);
    raise(SIGKILL);
  }
  return 6;
}
