// The shared-memory transport: "shm://name?backing=memfd&wake=futex".
//
// Overview: each connection gets its own segment holding two single-producer/single-
// consumer byte rings (requests, replies) shared by the two processes; Ferry frames travel
// through them with no system call on the fast path (see shm_connection.h). Connection
// set-up goes through a rendezvous the server owns for `name`: an abstract-namespace Unix
// socket over which the client passes the segment's descriptor (see shm_setup.h). After
// set-up nothing of the connection has a name anywhere (no /dev/shm entry, no socket file),
// so nothing can be left behind by a shutdown or a SIGKILL. docs/shm-transport.md has the
// design and the reasoning behind each choice.
//
// Address: "shm://<name>[?options]" (or "shm:<name>"); <name> is 1-64 of [A-Za-z0-9._-].
// The client's options decide each connection; a listener accepts any valid proposal and
// returns its address as given, so clients that connect to Listener::address() use the
// options it was given. Options (defaults from Options below):
//   backing=memfd|shm|file   where the segment lives (memfd, POSIX shm, a mapped file)
//   wake=futex|spin|eventfd|signal
//                            how a waiting side sleeps and is woken: spin for spin_us then
//                            futex (default); busy-spin; eventfd; queued RT signals
//   ring=<bytes>[k|m|g]      bytes per ring (4 KiB .. 1 GiB; default 1 MiB)
//   spin_us=<us>             spin budget before sleeping (futex: 20 us; eventfd, signal: 0)
//   dir=<abs path>           directory for backing=file (default /tmp)
//   uids=<uid>,<uid>         peer uids accepted besides our own (server: clients; client:
//                            servers, and root is always accepted as a server)
//   signal=<n>               wake=signal uses SIGRTMIN+n (default 6)
//
// Listen(): ALREADY_EXISTS if a live server holds the name (a dead server's name is free
//   at once). Accept() refuses clients whose uid is not allowed (SO_PEERCRED) and clients
//   whose hello or segment does not check out; it tells them why and keeps waiting.
// Connect(): UNAVAILABLE if nobody listens; PERMISSION_DENIED if the server runs as an
//   untrusted uid. It returns once the segment is handed over, without waiting for the
//   server to Accept(); a refusal surfaces as UNAVAILABLE (with the server's reason) on the
//   connection's first wait.
// Peer death: a waiting side notices a peer killed with SIGKILL at once: the rendezvous
//   socket's hang-up wakes it (eventfd: its own ppoll; futex, signal: the process's
//   HangupWatch thread); spinners poll the socket every 2 ms.
// PeerDescription(): "shm://name pid=<pid> uid=<uid> backing=memfd wake=futex ring=<n>".
//
// Stateless and thread-safe.
//
// Example:
//   ferry::ShmTransport shm;
//   auto listener = shm.Listen(*ferry::Address::Parse("shm://kv?wake=spin"), {});
//   auto conn = shm.Connect(*ferry::Address::Parse((*listener)->address()), {},
//                           absl::Now() + absl::Seconds(1));
#ifndef FERRY_TRANSPORTS_SHM_SHM_TRANSPORT_H_
#define FERRY_TRANSPORTS_SHM_SHM_TRANSPORT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/shm/shm_setup.h"
#include "transports/transport.h"

namespace ferry {

class ShmTransport final : public Transport {
 public:
  // Defaults for every connection; an address's options override them.
  using Options = shm::ShmOptions;

  ShmTransport() : ShmTransport(Options{}) {}
  explicit ShmTransport(const Options& options) : options_(options) {}

  absl::string_view scheme() const override { return "shm"; }
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                   const ConnectionLimits& limits) override;
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                      const ConnectionLimits& limits,
                                                      absl::Time deadline) override;

 private:
  const Options options_;
};

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_SHM_SHM_TRANSPORT_H_
