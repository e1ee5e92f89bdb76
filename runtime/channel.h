// Channel: the client side of Ferry. One channel, one address, one connection that many
// concurrent calls share.
//
// Overview: Channel::Create parses the address ("unix:/tmp/s.sock", "tcp://[::1]:5000",
// ...) and picks the transport from the registry by scheme. It connects lazily on the
// first call and again on the first call after the connection failed, so a channel may
// be created before its server starts and survives server restarts. Calls are matched to
// replies by call id, so many threads (or one thread with many async calls) share the
// connection.
//
// Threads: a blocking call does its own reading (the caller whose reply is awaited reads
// the connection itself when no other caller is), so a lone caller never waits for a
// hand-off from another thread; async calls are completed by whichever thread is reading,
// or by a helper thread the channel starts when only async calls are in flight.
//
// Generated stubs call Call()/CallAsync(); users normally use the stubs.
//
// Example:
//   auto channel = ferry::Channel::Create("unix:/tmp/kv.sock", ferry::DefaultTransports());
//   if (!channel.ok()) return channel.status();
//   kv::KeyValue::Stub stub(*channel);
//   ferry::ClientContext ctx;
//   ctx.set_timeout(absl::Seconds(1));
//   absl::StatusOr<kv::GetReply> reply = stub.Get(ctx, request);
#ifndef FERRY_RUNTIME_CHANNEL_H_
#define FERRY_RUNTIME_CHANNEL_H_

#include <cstdint>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "runtime/context.h"
#include "runtime/frame.h"
#include "transports/transport.h"

namespace ferry {

struct ChannelOptions {
  // Larger requests fail with RESOURCE_EXHAUSTED before anything is sent.
  uint32_t max_send_message_size = kDefaultMaxMessageSize;
  // Larger replies fail with RESOURCE_EXHAUSTED (the server learns this limit at connect
  // time and fails the call instead of sending).
  uint32_t max_receive_message_size = kDefaultMaxMessageSize;
  // How long connecting (transport connect + HELLO exchange) may take, also bounded by
  // the call's own deadline.
  absl::Duration connect_timeout = absl::Seconds(20);
};

class ClientConnection;  // runtime/client_connection.h

class Channel {
 public:
  // INVALID_ARGUMENT for a malformed address or a scheme no transport in `transports`
  // serves. Does not connect.
  static absl::StatusOr<std::shared_ptr<Channel>> Create(
      absl::string_view address, std::shared_ptr<const TransportRegistry> transports,
      const ChannelOptions& options = ChannelOptions());

  // Fails calls still in flight with CANCELLED and closes the connection.
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // A blocking unary call of `method` ("/package.Service/Method"). On OK, `response`
  // holds the reply. Returns the server's status verbatim, or the runtime's own:
  // DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE (cannot connect, or the connection died
  // during the call), RESOURCE_EXHAUSTED (message over a limit), INTERNAL (the reply
  // does not decode). Thread-safe.
  absl::Status Call(ClientContext& ctx, absl::string_view method,
                    const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response);

  // The same call without blocking: `done` runs exactly once with the status, on the
  // thread that completes the call (a reading caller, the channel's helper thread, or
  // this thread if the call fails before it is sent). `done` must not block. `ctx` and
  // `response` must outlive the call; `request` is serialized before CallAsync returns.
  void CallAsync(ClientContext& ctx, absl::string_view method,
                 const google::protobuf::MessageLite& request,
                 google::protobuf::MessageLite* response,
                 absl::AnyInvocable<void(absl::Status) &&> done);

  const std::string& address() const { return address_; }

 private:
  Channel(std::string address, Address parsed, Transport* transport,
          std::shared_ptr<const TransportRegistry> transports, const ChannelOptions& options);

  // The live connection, connecting first if there is none or the last one failed.
  absl::StatusOr<std::shared_ptr<ClientConnection>> GetConnection(absl::Time deadline);

  const std::string address_;
  const Address parsed_;
  Transport* const transport_;
  const std::shared_ptr<const TransportRegistry> transports_;
  const ChannelOptions options_;

  std::mutex mu_;  // std::mutex: see client_connection.h
  std::condition_variable connected_;
  std::shared_ptr<ClientConnection> connection_ ABSL_GUARDED_BY(mu_);
  bool connecting_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ferry

#endif  // FERRY_RUNTIME_CHANNEL_H_
