// The exec: transport: a channel that spawns its server and talks over the child's
// stdin/stdout, the way language servers and tool servers are run.
//
// Address: "exec:<program>?arg=<a1>&arg=<a2>&stderr=inherit|null".
//   <program>  a path ("exec:/usr/bin/kv_server", "exec:./srv"; "exec:///abs" is the
//              same as "exec:/abs"), or a bare name looked up in PATH ("exec:kv_server").
//              It cannot contain '?'.
//   arg        one argument each, in order (argv[0] is <program>). Values are
//              percent-decoded, so '&' is %26, '%' is %25, '?' is %3F, ' ' may be %20; '='
//              needs no escape: "arg=--address=stdio:-".
//   stderr     "inherit" (default: the child writes to our stderr) or "null".
// The spawned program serves on "stdio:-" (see stdio_transport.h), e.g.
//   exec:/path/conformance_server?arg=--address=stdio:-
//
// Connect() spawns one child per connection (posix_spawn, see spawn.h: every other fd
// closed in the child, empty signal mask, SIGPIPE at its default) and returns a framed
// connection over two pipes (transports/pipe/pipe_stream.h). A Channel reconnects on its
// next call after a failure, so a server that exited is respawned by the next call.
//
// Life cycle of the child, owned by the connection:
//   - The child exits (or is killed): calls in flight and later ones on this connection
//     fail with UNAVAILABLE: its stdout pipe reaches end of stream (or, if a grandchild
//     still holds that pipe, a watcher thread that waits on the child's pidfd shuts the
//     connection down). The watcher reaps the child at once: no zombie lingers while the
//     connection object lives.
//   - Close(): the child's stdin reaches end of stream (a stdio: server then exits by
//     default). If it has not exited after Options::term_after it gets SIGTERM, after a
//     further Options::kill_after SIGKILL; it is reaped. Destroying the connection waits
//     for this (so it may block up to term_after + kill_after for a child that ignores
//     end of stream), and then no child, zombie or fd of this connection is left.
//   - Our process never gets SIGPIPE from the pipes (see pipe_stream.h) and its signal
//     dispositions are never changed. A host that sets SIGCHLD to SIG_IGN reaps children
//     itself; the watcher copes (waitid reports ECHILD).
// Listen() is INVALID_ARGUMENT: the server side is "stdio:-".
// PeerDescription(): "exec:<program> pid=<child pid>".
#ifndef FERRY_TRANSPORTS_PIPE_EXEC_TRANSPORT_H_
#define FERRY_TRANSPORTS_PIPE_EXEC_TRANSPORT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/pipe/spawn.h"
#include "transports/transport.h"

namespace ferry {

class ExecTransport final : public Transport {
 public:
  struct Options {
    // After Close(): how long the child may take to exit on its own once its stdin is at
    // end of stream, before SIGTERM; then how long after SIGTERM before SIGKILL.
    absl::Duration term_after = absl::Seconds(1);
    absl::Duration kill_after = absl::Seconds(1);
  };

  ExecTransport() : ExecTransport(Options{}) {}
  explicit ExecTransport(const Options& options) : options_(options) {}

  absl::string_view scheme() const override { return "exec"; }
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                   const ConnectionLimits& limits) override;
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                      const ConnectionLimits& limits,
                                                      absl::Time deadline) override;

 private:
  const Options options_;
};

// Parses an exec: address into what to spawn (INVALID_ARGUMENT naming the problem).
absl::StatusOr<SpawnSpec> ParseExecAddress(const Address& address);

// Decodes %XX escapes (INVALID_ARGUMENT for a malformed one).
absl::StatusOr<std::string> PercentDecode(absl::string_view s);

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_PIPE_EXEC_TRANSPORT_H_
