// Serves the raw shm echo (raw_shm.h) on --address until SIGTERM/SIGINT, for benchmarks
// that run the raw floor's server in its own process. Prints "listening on <address>"
// once it accepts connections.
//
//   raw_shm_echo --address='shm://bench-raw?wake=spin&backing=memfd'
#include <signal.h>

#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "transports/shm/raw_shm.h"

ABSL_FLAG(std::string, address, "", "shm address to serve on, e.g. shm://bench-raw?wake=spin");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  auto server = ferry::shm::RawShmEchoServer::Start(absl::GetFlag(FLAGS_address));
  if (!server.ok()) {
    std::cerr << "error: " << server.status() << std::endl;
    return 1;
  }
  std::cout << "listening on " << (*server)->address() << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  (*server)->Shutdown();
  return 0;
}
