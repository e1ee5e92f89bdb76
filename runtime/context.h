// Per-call contexts: what a client says about a call, and what a handler knows about it.
//
// Overview: a ClientContext carries one call's deadline, metadata and cancellation; after
// the call it holds the server's trailing metadata. A ServerContext is given to every
// handler: the caller's deadline and metadata, the peer, and whether the call has been
// cancelled (by the client, by its deadline passing, or by server shutdown).
//
// Example (client):
//   ferry::ClientContext ctx;
//   ctx.set_timeout(absl::Milliseconds(200));
//   ctx.AddMetadata("x-request-id", "42");
//   absl::StatusOr<Reply> r = stub.Get(ctx, request);
// Example (handler):
//   absl::Status Get(ferry::ServerContext& ctx, const Req& req, Reply* reply) override {
//     while (!ctx.IsCancelled()) { ... }
//   }
#ifndef FERRY_RUNTIME_CONTEXT_H_
#define FERRY_RUNTIME_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "runtime/clock.h"
#include "runtime/frame.h"

namespace ferry {

namespace internal {
// Implemented by the channel's connection, so ClientContext::Cancel() can end a call in
// flight. CancelCall of a call that already completed does nothing.
class CallCanceller {
 public:
  virtual void CancelCall(uint32_t call_id) = 0;

 protected:
  ~CallCanceller() = default;
};
}  // namespace internal

// One call's client-side settings and results.
//
// Lifetime: must outlive the call it is used for (for async calls, until the callback
// has run). It may be reused for another call once the previous one has completed.
// Threading: set up from one thread before the call; Cancel() and IsCancelled() may be
// called from any thread at any time.
class ClientContext {
 public:
  ClientContext() = default;
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;
  ~ClientContext() = default;

  // Absolute deadline; InfiniteFuture() (the default) means none. The call fails with
  // DEADLINE_EXCEEDED when it passes, and the server sees the call cancelled.
  void set_deadline(absl::Time deadline) { deadline_ = deadline; }
  // Sets the deadline to now + timeout, converted once here.
  void set_timeout(absl::Duration timeout) { deadline_ = internal::Now() + timeout; }
  absl::Time deadline() const { return deadline_; }

  // Metadata sent with the call. Keys must follow gRPC's rules (lowercase [a-z0-9-_.]);
  // a bad key fails the call with INVALID_ARGUMENT.
  void AddMetadata(std::string key, std::string value) {
    metadata_.emplace_back(std::move(key), std::move(value));
  }
  const Metadata& metadata() const { return metadata_; }

  // The server's trailing metadata, available once the call has completed.
  const Metadata& trailing_metadata() const { return trailers_; }

  // Ends the call in flight (or the next call made with this context) with CANCELLED and
  // tells the server, whose handler then sees IsCancelled(). Idempotent, thread-safe.
  void Cancel();
  bool IsCancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  friend class ClientConnection;

  // Called by the connection around a call: Bind returns false if already cancelled.
  // `owner` must stay alive until Unbind() has returned: Unbind waits for a Cancel() that
  // is calling into the owner, so Cancel() never reaches a dead object. Neither takes a
  // lock nor executes a locked instruction (a call binds and unbinds its context every
  // time; Cancel is rare and pays for both with a process-wide barrier, runtime/barrier.h).
  bool Bind(internal::CallCanceller* owner, uint32_t call_id);
  void Unbind();

  // Cancel()'s record on its own stack while it calls into the owner (context.cc), and
  // the one of the Cancel() running on this thread, if any.
  struct CancelToken;
  static thread_local CancelToken* this_thread_cancel_;

  absl::Time deadline_ = absl::InfiniteFuture();
  Metadata metadata_;
  Metadata trailers_;
  std::atomic<bool> cancelled_{false};
  std::atomic<internal::CallCanceller*> owner_{nullptr};
  std::atomic<uint32_t> call_id_{0};
  std::atomic<CancelToken*> canceller_{nullptr};  // a Cancel() inside owner->CancelCall()
};

// What a handler knows about its call. Owned by the server; valid for the duration of the
// handler only. Accessors are thread-safe; AddTrailingMetadata is for the handler's thread.
class ServerContext {
 public:
  using MetadataView = std::vector<std::pair<absl::string_view, absl::string_view>>;

  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // The method path, "/package.Service/Method".
  absl::string_view method() const { return method_; }
  // The client's deadline as an absolute time in this process (InfiniteFuture if none).
  absl::Time deadline() const { return deadline_; }
  // The client's metadata. Views stay valid while the handler runs.
  const MetadataView& client_metadata() const { return *metadata_; }
  // The first value for `key`, or an empty view.
  absl::string_view FindMetadata(absl::string_view key) const;
  // The transport's description of the client, e.g. "unix:/tmp/s.sock pid=42 uid=1000".
  absl::string_view peer() const { return peer_; }

  // True once the client cancelled, the deadline passed, or the server is shutting down
  // and its drain deadline passed. A handler that runs long should poll it and give up.
  // Once it has returned true because the deadline passed, the call ends with
  // DEADLINE_EXCEEDED whatever the handler returns (as a gRPC server's would): the client
  // has given up, and a reply racing its deadline must not turn into OK.
  bool IsCancelled() const {
    if (cancelled_.load(std::memory_order_acquire)) return true;
    if (deadline_ == absl::InfiniteFuture() || internal::Now() < deadline_) return false;
    deadline_passed_.store(true, std::memory_order_relaxed);
    return true;
  }

  // Trailing metadata sent to the client with the call's status.
  void AddTrailingMetadata(std::string key, std::string value) {
    trailers_.emplace_back(std::move(key), std::move(value));
  }

 private:
  friend class ServerCallAccess;
  ServerContext() = default;

  absl::string_view method_;
  absl::Time deadline_ = absl::InfiniteFuture();
  const MetadataView* metadata_ = nullptr;
  absl::string_view peer_;
  std::atomic<bool> cancelled_{false};
  mutable std::atomic<bool> deadline_passed_{false};  // IsCancelled() saw the deadline pass
  Metadata trailers_;
};

// The server runtime's access to ServerContext internals (tests use it too).
class ServerCallAccess {
 public:
  static ServerContext* New() { return new ServerContext(); }
  static void Reset(ServerContext& ctx, absl::string_view method, absl::Time deadline,
                    const ServerContext::MetadataView* metadata, absl::string_view peer) {
    ctx.method_ = method;
    ctx.deadline_ = deadline;
    ctx.metadata_ = metadata;
    ctx.peer_ = peer;
    ctx.cancelled_.store(false, std::memory_order_relaxed);
    ctx.deadline_passed_.store(false, std::memory_order_relaxed);
    ctx.trailers_.clear();
  }
  // True if the handler saw IsCancelled() because its deadline had passed.
  static bool DeadlinePassed(const ServerContext& ctx) {
    return ctx.deadline_passed_.load(std::memory_order_relaxed);
  }
  static void Cancel(ServerContext& ctx) { ctx.cancelled_.store(true, std::memory_order_release); }
  static Metadata& trailers(ServerContext& ctx) { return ctx.trailers_; }
};

}  // namespace ferry

#endif  // FERRY_RUNTIME_CONTEXT_H_
