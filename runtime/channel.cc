#include "runtime/channel.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/client_connection.h"

namespace ferry {
namespace {

// A call that found its connection dead or draining before the server saw it is retried
// on a fresh connection this many times (gRPC's "transparent retry").
constexpr int kMaxAttempts = 3;

absl::Status StripRetry(const absl::Status& s) {
  return absl::UnavailableError(s.message());
}

}  // namespace

absl::StatusOr<std::shared_ptr<Channel>> Channel::Create(
    absl::string_view address, std::shared_ptr<const TransportRegistry> transports,
    const ChannelOptions& options) {
  if (transports == nullptr) return absl::InvalidArgumentError("no transport registry given");
  absl::StatusOr<Address> parsed = Address::Parse(address);
  if (!parsed.ok()) return parsed.status();
  Transport* transport = transports->Find(parsed->scheme);
  if (transport == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no transport for \"", parsed->scheme, ":\" addresses (known: ",
                     absl::StrJoin(transports->schemes(), ", "), ")"));
  }
  return std::shared_ptr<Channel>(new Channel(std::string(address), *std::move(parsed),
                                              transport, std::move(transports), options));
}

Channel::Channel(std::string address, Address parsed, Transport* transport,
                 std::shared_ptr<const TransportRegistry> transports,
                 const ChannelOptions& options)
    : address_(std::move(address)),
      parsed_(std::move(parsed)),
      transport_(transport),
      transports_(std::move(transports)),
      options_(options) {}

Channel::~Channel() {
  std::shared_ptr<ClientConnection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = std::move(connection_);
  }
  if (conn != nullptr) conn->Shutdown(absl::CancelledError("channel destroyed"));
}

absl::StatusOr<std::shared_ptr<ClientConnection>> Channel::GetConnection(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (connection_ != nullptr && connection_->usable()) return connection_;
    if (!connecting_) break;
    // Another caller is connecting: wait for its result rather than connect twice.
    if (deadline == absl::InfiniteFuture()) {
      connected_.wait(lock);
    } else if (connected_.wait_until(lock, absl::ToChronoTime(deadline)) ==
                   std::cv_status::timeout &&
               connecting_) {
      return absl::DeadlineExceededError(absl::StrCat("deadline exceeded connecting to ", address_));
    }
  }
  connecting_ = true;
  std::shared_ptr<ClientConnection> old = std::move(connection_);
  lock.unlock();
  old.reset();  // a draining connection lives on while its calls (async ones) hold it

  absl::StatusOr<std::shared_ptr<ClientConnection>> conn = ClientConnection::Connect(
      transport_, parsed_, options_, std::min(deadline, absl::Now() + options_.connect_timeout));

  lock.lock();
  connecting_ = false;
  connected_.notify_all();
  if (!conn.ok()) {
    // A connect that ran out of the call's own time is the call's deadline; anything else
    // (refused, no such socket, connect timeout) means the server is not there.
    if (conn.status().code() == absl::StatusCode::kDeadlineExceeded && absl::Now() < deadline) {
      return absl::UnavailableError(conn.status().message());
    }
    if (conn.status().code() != absl::StatusCode::kDeadlineExceeded &&
        conn.status().code() != absl::StatusCode::kInvalidArgument &&
        conn.status().code() != absl::StatusCode::kPermissionDenied) {
      return absl::UnavailableError(conn.status().message());
    }
    return conn.status();
  }
  connection_ = *conn;
  return connection_;
}

absl::Status Channel::Call(ClientContext& ctx, absl::string_view method,
                           const google::protobuf::MessageLite& request,
                           google::protobuf::MessageLite* response) {
  absl::Status last;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    absl::StatusOr<std::shared_ptr<ClientConnection>> conn = GetConnection(ctx.deadline());
    if (!conn.ok()) return conn.status();
    last = (*conn)->Call(ctx, method, request, response);
    if (!ClientConnection::IsRetryOnNewConnection(last)) return last;
  }
  return StripRetry(last);
}

void Channel::CallAsync(ClientContext& ctx, absl::string_view method,
                        const google::protobuf::MessageLite& request,
                        google::protobuf::MessageLite* response,
                        absl::AnyInvocable<void(absl::Status) &&> done) {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    absl::StatusOr<std::shared_ptr<ClientConnection>> conn = GetConnection(ctx.deadline());
    if (!conn.ok()) {
      std::move(done)(conn.status());
      return;
    }
    if ((*conn)->CallAsync(ctx, method, request, response, done)) return;
  }
  std::move(done)(absl::UnavailableError(
      absl::StrCat("connection to ", address_, " kept failing before the call was sent")));
}

}  // namespace ferry
