// The stdio: transport: a server serving the one peer that spawned it (an exec: channel)
// over its stdin and stdout.
//
// Address: "stdio:-" (Address::Parse needs a non-empty target; "-" is the usual name for
// stdin/stdout). No options.
//
// Listen() (at most once per process; ALREADY_EXISTS after that):
//   - requires fds 0 and 1 to be pipes or FIFOs (FAILED_PRECONDITION otherwise, e.g. a
//     terminal: run the program through an exec: address);
//   - takes them over: opens private descriptions of both pipes through /proc/self/fd
//     (so making the output non-blocking never affects a description shared with another
//     process; without /proc it dup()s them and sets O_NONBLOCK on the shared one), then
//     points fd 0 at /dev/null and fd 1 at fd 2 (stderr). From then on nothing else in
//     the process can read our requests or write into the reply stream: printf, std::cout
//     and logging that write to stdout land on stderr. Output written to stdout *before*
//     Listen() and already flushed would reach the client ahead of the first frame and
//     break the connection, so print nothing to stdout before listening.
// Listener: the first Accept() returns the connection; later ones block until Close()
//   and then return UNAVAILABLE. Close() before the first Accept() closes the connection.
// When the peer is gone (end of stream on stdin, or the reply pipe hung up) and it was
//   not our own Close(), Options::on_peer_gone runs once. The default sends SIGTERM to
//   this process (kill(getpid())): a stdio server lives as long as its one client, and a
//   program that handles SIGTERM (sigwait, then Server::Shutdown) exits cleanly, while
//   one that does not dies as from SIGPIPE. Set on_peer_gone to do something else.
// Connect() is INVALID_ARGUMENT: clients reach a stdio server with exec:.
// PeerDescription(): "stdio:- ppid=<parent pid>".
#ifndef FERRY_TRANSPORTS_PIPE_STDIO_TRANSPORT_H_
#define FERRY_TRANSPORTS_PIPE_STDIO_TRANSPORT_H_

#include <functional>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/stream/fd.h"
#include "transports/transport.h"

namespace ferry {

class StdioTransport final : public Transport {
 public:
  struct Options {
    // Runs once when the peer is gone (see above); empty: send SIGTERM to this process.
    std::function<void()> on_peer_gone;
  };

  StdioTransport() : StdioTransport(Options{}) {}
  explicit StdioTransport(Options options) : options_(std::move(options)) {}

  absl::string_view scheme() const override { return "stdio"; }
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                   const ConnectionLimits& limits) override;
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                      const ConnectionLimits& limits,
                                                      absl::Time deadline) override;

 private:
  const Options options_;
};

// The take-over step of Listen(), for raw peers (bench): checks fds 0/1, returns
// {read fd, write fd} (private descriptions where /proc allows; the write fd
// non-blocking), and points fd 0 at /dev/null and fd 1 at stderr. Once per process
// (ALREADY_EXISTS after that); FAILED_PRECONDITION if stdin/stdout are not pipes.
absl::StatusOr<std::pair<UniqueFd, UniqueFd>> TakeOverStdio();

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_PIPE_STDIO_TRANSPORT_H_
