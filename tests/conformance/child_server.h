// Runs tests/conformance/conformance_server in a child process, for tests that kill the
// server with SIGKILL or restart it.
#ifndef FERRY_TESTS_CONFORMANCE_CHILD_SERVER_H_
#define FERRY_TESTS_CONFORMANCE_CHILD_SERVER_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"

namespace ferry::conformance {

class ChildServer {
 public:
  // Starts the server on `address` and waits (up to 10 s) for its "listening on" line.
  static absl::StatusOr<ChildServer> Start(const std::string& address);

  ChildServer(ChildServer&& other) noexcept;
  ChildServer& operator=(ChildServer&& other) noexcept;
  ~ChildServer();  // SIGKILLs and reaps the child if it is still running

  const std::string& address() const { return address_; }  // as bound (port resolved)
  pid_t pid() const { return pid_; }
  // Sends `sig` and reaps the child; returns its wait status.
  int Kill(int sig);

 private:
  ChildServer(pid_t pid, std::string address) : pid_(pid), address_(std::move(address)) {}
  pid_t pid_ = -1;
  std::string address_;
};

// The path of the conformance_server binary in the test's runfiles.
std::string ConformanceServerPath();

}  // namespace ferry::conformance

#endif  // FERRY_TESTS_CONFORMANCE_CHILD_SERVER_H_
