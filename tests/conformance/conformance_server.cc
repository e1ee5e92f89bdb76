// Serves the Conformance service on --address until SIGTERM/SIGINT. Prints
// "listening on <address>" once serving, so a test that starts it (in another process, to
// kill it with SIGKILL) knows the bound address.
#include <signal.h>

#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "runtime/server.h"
#include "tests/conformance/conformance_service.h"
#include "transports/default_transports.h"

ABSL_FLAG(std::string, address, "", "address to serve on, e.g. unix:/tmp/x.sock");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  ferry::conformance::ConformanceService service;
  auto server = ferry::ServerBuilder(ferry::DefaultTransports())
                    .AddListeningAddress(absl::GetFlag(FLAGS_address))
                    .RegisterService(&service, ferry::HandlerThread::kInline)
                    .SetMethodThread("/ferry.conformance.Conformance/Sleep",
                                     ferry::HandlerThread::kPool)
                    .BuildAndStart();
  if (!server.ok()) {
    std::cerr << "error: " << server.status() << std::endl;
    return 1;
  }
  std::cout << "listening on " << (*server)->addresses()[0] << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  (*server)->Shutdown(absl::Now() + absl::Seconds(5));
  return 0;
}
