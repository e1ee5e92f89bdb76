// ClientConnection: one transport connection shared by many concurrent calls.
// Internal to the runtime; users see Channel.
//
// Reading model (leader/follower): there is no dedicated reader thread on the fast path.
// A blocking caller waiting for its reply reads the connection itself if nobody else is
// (it becomes the "reader"); frames for other calls are delivered to them (their reply
// parsed straight into their response object, then they are woken). When the reader's
// own call completes it hands the reader role to another waiting caller. A lone caller
// therefore sends, reads and returns on its own thread with no wake-up of another
// thread. Async calls are completed by whoever reads; when only async calls are in
// flight, a helper thread (started on first use) takes the reader role.
//
// Threading: all public methods are thread-safe.
#ifndef FERRY_RUNTIME_CLIENT_CONNECTION_H_
#define FERRY_RUNTIME_CLIENT_CONNECTION_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "runtime/channel.h"
#include "runtime/context.h"
#include "transports/transport.h"

namespace ferry {

class ClientConnection final : public internal::CallCanceller,
                               public std::enable_shared_from_this<ClientConnection> {
 public:
  // Connects and exchanges HELLO frames. UNAVAILABLE if nobody answers, DEADLINE_EXCEEDED.
  static absl::StatusOr<std::shared_ptr<ClientConnection>> Connect(Transport* transport,
                                                                   const Address& address,
                                                                   const ChannelOptions& options,
                                                                   absl::Time deadline);
  ~ClientConnection();

  // A blocking unary call. Returns kRetryOnNewConnection (an UNAVAILABLE status with that
  // payload) if this connection turned out dead or draining before anything was sent, so
  // the channel can retry on a fresh connection.
  absl::Status Call(ClientContext& ctx, absl::string_view method,
                    const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response);

  // Returns false (without calling done) if the call should be retried on a fresh
  // connection, as for Call().
  bool CallAsync(ClientContext& ctx, absl::string_view method,
                 const google::protobuf::MessageLite& request,
                 google::protobuf::MessageLite* response,
                 absl::AnyInvocable<void(absl::Status) &&>& done);

  // False once the connection failed or the server sent GOAWAY: new calls need a new one.
  bool usable() const { return usable_.load(std::memory_order_acquire); }

  // Fails every call in flight with `why` and closes the transport connection.
  void Shutdown(const absl::Status& why);

  // Inline: every call's result is tested (an OK one without a look at its payload).
  static bool IsRetryOnNewConnection(const absl::Status& s) {
    return !s.ok() && HasRetryMarker(s);
  }

  // internal::CallCanceller: ends the call with CANCELLED and tells the server.
  void CancelCall(uint32_t call_id) override;

 private:
  struct PendingCall;
  class Completions;

  static bool HasRetryMarker(const absl::Status& s);

  ClientConnection(std::unique_ptr<Connection> conn, const ChannelOptions& options,
                   uint32_t peer_max_message, bool unary_frames);

  // Registers a call, checks limits and sends CALL_START + MESSAGE. On error the call is
  // not registered and the status is the call's result.
  absl::Status Start(PendingCall* call, ClientContext& ctx, absl::string_view method,
                     const google::protobuf::MessageLite& request);
  // False if the connection turned out dead: checked (see CheckIdleConnectionLocked) only
  // when it has been idle for a while; a busy connection's reader would have noticed.
  bool StillAlive();
  // Called with mu_ held by a would-be caller when the connection may have died while
  // idle (nobody has read from it for a while): a non-blocking read notices EOF.
  bool CheckIdleConnectionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads frames as the reader until `until` returns true (checked under mu_).
  // Enters and leaves with mu_ held and reader_active_ set by the caller.
  template <typename Until>
  void ReadAsReaderLocked(Until until, Completions& completions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Time NextWakeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleFrameLocked(const Frame& frame, Completions& completions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireDeadlinesLocked(absl::Time now, Completions& completions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailAllLocked(const absl::Status& why, Completions& completions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the call from the table and records its result; the owner is told through
  // `completions` (woken, or its callback run after mu_ is released).
  void CompleteLocked(PendingCall* call, absl::Status status, Completions& completions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The call table and the counts kept beside it (async_calls_, deadline_calls_).
  void AddCallLocked(PendingCall* call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveCallLocked(PendingCall* call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives the reader role to a waiting caller or the helper thread, if anyone needs it.
  void HandOffReaderLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendControl(FrameType type, uint8_t flags, uint32_t call_id, absl::string_view payload);
  // Ensures someone reads for async calls: wakes or starts the helper thread.
  void WakeHelperLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void HelperMain(std::weak_ptr<ClientConnection> weak);
  // One round of the helper: waits (bounded) to be needed, then reads while only async
  // calls are waiting. Returns false when the helper should exit.
  bool HelperStep();

  const std::unique_ptr<Connection> conn_;
  const ChannelOptions options_;
  // The smaller of our send limit and the server's receive limit (from its HELLO).
  const uint32_t max_send_;
  // The server's HELLO offered kFeatureUnaryFrames: requests may travel inside CALL_START.
  const bool unary_frames_;
  std::atomic<bool> usable_{true};
  std::atomic<uint32_t> next_call_id_{1};

  // std::mutex, not absl::Mutex: Debian builds abseil with deadlock detection on, which
  // makes every absl::Mutex lock ~10x dearer; this lock is taken several times per call.
  std::mutex mu_;
  absl::flat_hash_map<uint32_t, PendingCall*> calls_ ABSL_GUARDED_BY(mu_);
  int async_calls_ ABSL_GUARDED_BY(mu_) = 0;
  // Calls in calls_ with a deadline: none, and the reader need not look for the next one.
  int deadline_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool reader_active_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status closed_status_ ABSL_GUARDED_BY(mu_);
  // GOAWAY: calls above this id were not processed by the server.
  uint32_t goaway_last_id_ ABSL_GUARDED_BY(mu_) = UINT32_MAX;
  // When a reader last returned (CLOCK_MONOTONIC_COARSE ns), for StillAlive().
  std::atomic<int64_t> last_read_nanos_{0};
  CallEndView end_view_ ABSL_GUARDED_BY(mu_);  // reused to decode CALL_END frames
  std::condition_variable helper_cv_;
  std::thread helper_ ABSL_GUARDED_BY(mu_);
  bool helper_stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ferry

#endif  // FERRY_RUNTIME_CLIENT_CONNECTION_H_
