// MsgqListener: the listening side shared by mq:// and sysv://, and the OPEN handshake.
//
// Overview: a client connects by sending a kOpen piece into the server's shared queue;
// its body (OpenInfo) says who the client is (pid and start time, for liveness) and where
// its replies go (a queue name or a message type). Connect() returns right after sending
// it — like a socket's connect() completing against the listen backlog — and Accept()
// picks OPENs up through the hub's accept slot, asks the mechanism (ListenerBackend) to
// open the reply path, and tells the client with a kAccept piece. OPENs still waiting when
// the listener closes get a kClose, so their clients see UNAVAILABLE.
#ifndef FERRY_TRANSPORTS_MSGQ_MSGQ_LISTENER_H_
#define FERRY_TRANSPORTS_MSGQ_MSGQ_LISTENER_H_

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "transports/msgq/hub.h"
#include "transports/msgq/msgq_connection.h"
#include "transports/transport.h"

namespace ferry::msgq {

struct OpenInfo {
  pid_t pid = 0;
  uint64_t start_time = 0;
  std::string reply;  // mq: the reply queue's name; sysv: the reply message type

  std::string Encode() const;
  static absl::StatusOr<OpenInfo> Decode(absl::string_view body);
};

// Sends one piece of `kind` (empty body unless given) for `conn`, waiting at most until
// `until`.
absl::Status SendSignal(MsgQueue& q, long channel, PieceKind kind, uint32_t conn,
                        absl::Time until, absl::string_view body = {});

// A connection id for a new client: random, never kAcceptConn or kAnyConn.
uint32_t NewConnId();

class ListenerBackend {
 public:
  virtual ~ListenerBackend() = default;
  // Fills in the server end's reply path (out, out_channel(s)), peer, description and
  // release for a client's OPEN. Errors skip that client.
  virtual absl::StatusOr<MsgqEndpoint> Open(const OpenInfo& info, uint32_t conn) = 0;
  // Makes the server unreachable by name (unlink, remove the record). Idempotent.
  virtual void Unpublish() = 0;
};

class MsgqListener final : public Listener {
 public:
  MsgqListener(std::shared_ptr<Hub> hub, std::unique_ptr<ListenerBackend> backend,
               std::string address, const ConnectionLimits& limits);
  ~MsgqListener() override;

  absl::StatusOr<std::unique_ptr<Connection>> Accept() override;
  void Close() override;
  std::string address() const override { return address_; }

 private:
  // Builds the server end for one OPEN, or says why not.
  absl::StatusOr<std::unique_ptr<Connection>> Admit(absl::string_view message, bool refuse);

  const std::shared_ptr<Hub> hub_;
  const std::unique_ptr<ListenerBackend> backend_;
  const std::string address_;
  const ConnectionLimits limits_;
  std::shared_ptr<Hub::Slot> slot_;
  std::unique_ptr<char[]> buf_;
  std::mutex accept_mu_;  // one Accept() at a time
  std::atomic<bool> closed_{false};
};

}  // namespace ferry::msgq

#endif  // FERRY_TRANSPORTS_MSGQ_MSGQ_LISTENER_H_
