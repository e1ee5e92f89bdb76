// kv_server: serves the KeyValue service on one or more addresses until SIGINT/SIGTERM.
//
//   kv_server --address=unix:/tmp/kv.sock,tcp://127.0.0.1:0
//
// Prints "listening on <address>" per bound address (port 0 resolved) once serving, so a
// script can start it on port 0 and read where it went. Exits 0 after a graceful
// shutdown, 1 if it could not start.
#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/kv/kv_service.h"
#include "runtime/server.h"
#include "transports/default_transports.h"

ABSL_FLAG(std::vector<std::string>, address, {},
          "Comma-separated addresses to serve on, e.g. "
          "unix:/tmp/kv.sock,tcp://127.0.0.1:0 (port 0 picks a free port). Given twice, "
          "the last one wins, as for every absl flag: list them all in one.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "On SIGINT/SIGTERM, how long calls in flight may take to finish before they are "
          "cancelled");

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "error: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves the Ferry key-value example.\n"
      "  kv_server --address=unix:/tmp/kv.sock,tcp://127.0.0.1:0");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("unexpected argument '", rest[1], "'")));
  }
  const std::vector<std::string> addresses = absl::GetFlag(FLAGS_address);
  if (addresses.empty()) {
    return Fail(absl::InvalidArgumentError("--address is required"));
  }

  // Signals are blocked before the server starts its threads, which inherit the mask, so
  // SIGINT/SIGTERM stay pending until sigwait() below takes them on this thread. That
  // lets shutdown run as ordinary code instead of inside an async-signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (int err = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); err != 0) {
    return Fail(absl::InternalError(absl::StrCat("pthread_sigmask: ", std::strerror(err))));
  }

  ferry::examples::kv::KeyValueService service;
  ferry::ServerBuilder builder(ferry::DefaultTransports());
  for (const std::string& address : addresses) builder.AddListeningAddress(address);
  // The handlers only hold a mutex for a map operation, so they run on the connection's
  // reader thread; a service whose handlers block would keep the default kPool.
  builder.RegisterService(&service, ferry::HandlerThread::kInline);
  absl::StatusOr<std::unique_ptr<ferry::Server>> server = builder.BuildAndStart();
  if (!server.ok()) return Fail(server.status());

  for (const std::string& bound : (*server)->addresses()) {
    std::cout << "listening on " << bound << "\n";
  }
  std::cout.flush();

  int signal_number = 0;
  if (int err = sigwait(&stop_signals, &signal_number); err != 0) {
    (*server)->Shutdown(absl::Now());
    return Fail(absl::InternalError(absl::StrCat("sigwait: ", std::strerror(err))));
  }
  std::cerr << "kv_server: " << strsignal(signal_number) << ", shutting down" << std::endl;
  (*server)->Shutdown(absl::Now() + absl::GetFlag(FLAGS_shutdown_grace));
  return 0;
}
