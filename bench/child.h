// A peer server in a child process: ferry-bench re-executing itself in serve mode.
//
// Overview: ServerChild::Start runs `<self> --serve=<address> --serve_impl=<impl>
// --internal_child [--internal_cpu=<n>]` with its stdout on a pipe, waits for the line
// "serving <impl> on <bound address>" and keeps the pid. Stop() sends SIGTERM (the child
// shuts its server down and exits), and SIGKILL if it has not exited within 5 s. The child
// also dies with SIGTERM when its parent does (PR_SET_PDEATHSIG), so an interrupted run
// leaves no servers behind.
#ifndef FERRY_BENCH_CHILD_H_
#define FERRY_BENCH_CHILD_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "bench/peer.h"

namespace ferry::bench {

class ServerChild {
 public:
  // `self` is this program's path (/proc/self/exe works). `cpu` >= 0 pins the child to
  // that CPU. UNAVAILABLE (with what the child printed) if it does not report its
  // address within 20 s.
  static absl::StatusOr<ServerChild> Start(const std::string& self, Impl impl,
                                           const std::string& address, int cpu);

  ServerChild(ServerChild&& other) noexcept;
  ServerChild& operator=(ServerChild&& other) noexcept;
  ~ServerChild();  // Stop()

  Impl impl() const { return impl_; }
  // As the child bound it (port 0 resolved).
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  // Terminates and reaps the child. Returns its wait status (-1 if already stopped).
  int Stop();

 private:
  ServerChild(pid_t pid, Impl impl) : pid_(pid), impl_(impl) {}
  pid_t pid_ = -1;
  Impl impl_ = Impl::kFerry;
  std::string address_;
};

// The line a serving process prints once it serves: "serving <impl> on <address>".
std::string ServingLine(Impl impl, const std::string& address);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_CHILD_H_
