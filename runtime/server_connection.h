// One accepted connection on the server: its reader thread, its calls in flight, and the
// dispatch of each call to its handler (inline on the reader thread, or on the pool).
// Internal to the runtime.
#ifndef FERRY_RUNTIME_SERVER_CONNECTION_H_
#define FERRY_RUNTIME_SERVER_CONNECTION_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "runtime/context.h"
#include "runtime/frame.h"
#include "runtime/service.h"
#include "transports/transport.h"

namespace ferry {

class ServerImpl;
struct MethodEntry;

class ServerConnection {
 public:
  ServerConnection(ServerImpl* server, std::unique_ptr<Connection> conn);
  ~ServerConnection();  // joins the reader thread

  void Start();  // starts the reader thread
  // Stops admitting calls: later CALL_STARTs get UNAVAILABLE; the client gets GOAWAY.
  void GoAway();
  // Cancels every call in flight: handlers see IsCancelled(), clients get `why`.
  void CancelAll(const absl::Status& why);
  // Closes the transport connection (wakes the reader, which then exits).
  void Close() { conn_->Close(); }
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  // A call is running on the reader thread (see inline_busy_).
  bool inline_busy() const { return inline_busy_.load(std::memory_order_acquire); }

 private:
  struct Call {
    uint32_t id = 0;
    const MethodEntry* method = nullptr;
    // A copy of CALL_START's payload; `start` points into it (or, for an inline call that
    // came with its request, into the received frame).
    std::string start_payload;
    CallStartView start;
    std::unique_ptr<ServerContext> ctx{ServerCallAccess::New()};
    std::string request;   // kept for pool handlers and for requests sent before HALF_CLOSE
    DispatchReply reply;   // what the handler left to send (its buffer is reused)
    std::string end_payload;
    bool has_request = false;
    bool running = false;  // a handler owns the call until it finishes
    bool pooled = false;   // ... and it runs on the pool (counted in running_)
    bool ended = false;    // CALL_END has been sent
  };

  void Run();
  bool Handshake();
  // Each returns false on a protocol violation that ends the connection.
  bool OnCallStart(const Frame& frame);
  // CALL_START + WITH_MESSAGE: a whole unary request in one frame.
  bool OnUnaryCall(const Frame& frame);
  // True (and the call forgotten) if `id` was cancelled before it started.
  bool CancelledEarly(uint32_t id);
  bool OnMessage(const Frame& frame);
  bool OnHalfClose(uint32_t id);
  void OnCancel(uint32_t id);
  // `just_started`: called right after the call's deadline was computed from its budget,
  // so the deadline has passed only if the budget was zero (no clock read).
  // A streamed request (inline handlers only) is parsed by the handler's dispatch.
  void Dispatch(Call* call, const DispatchRequest& request, bool just_started = false);
  void RunHandler(Call* call, const DispatchRequest& request);
  // For a streamed CALL_START + WITH_MESSAGE frame: reads and decodes the call-start
  // bytes from the payload stream into call->start_payload / call->start, leaving the
  // stream at the request, whose size goes to *request_size. A decode error is the call's
  // (the rest of the payload is skipped); a torn stream sets *torn.
  absl::Status ReadStreamedCallStart(uint32_t payload_length, Call* call, size_t* request_size,
                                     bool* torn);
  // Reads the rest of the streamed payload into *out. False if the stream was torn.
  bool ReadStreamedRest(std::string* out);
  // Sends the reply (if OK) and CALL_END unless the call has already ended, then frees it.
  void Finish(Call* call, absl::Status status);
  // Ends a call that never reached a handler.
  void Reject(uint32_t id, const absl::Status& status);
  void SendEnd(Call* call, const absl::Status& status);
  void ProtocolError(absl::string_view what);
  Call* FindLocked(uint32_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Call* AllocateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The method for `path`, through a one-entry cache (reader thread only).
  const MethodEntry* LookUp(absl::string_view path);
  void Release(Call* call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Resets a slot's per-call state (Release does, then frees it).
  static void Clear(Call* call);
  // Points the call's ServerContext at its decoded CALL_START (deadline from its budget).
  void ResetContext(Call* call);
  // A free call slot for the reader thread: its spare if it has one (no lock), else one
  // from the free list.
  Call* TakeSpare();
  // Gives a slot that was never registered back (reader thread).
  void ReturnSpare(Call* call);

  ServerImpl* const server_;
  const std::unique_ptr<Connection> conn_;
  const std::string peer_;
  uint32_t peer_max_message_ = kDefaultMaxMessageSize;  // from the client's HELLO
  uint32_t max_reply_ = kDefaultMaxMessageSize;         // min(ours, the client's)
  bool unary_frames_ = false;  // the client's HELLO offered kFeatureUnaryFrames
  std::thread thread_;
  std::atomic<bool> finished_{false};
  std::string scratch_;  // reader-thread scratch for small control payloads
  std::string streamed_;  // reader thread: streamed payloads that are read whole
  std::string last_path_;                     // reader thread only
  const MethodEntry* last_method_ = nullptr;  // reader thread only
  // CANCELs for call ids above any started so far (reader thread only, at most
  // kMaxEarlyCancels): transports that let control frames overtake data (mq priorities,
  // SysV's urgent type) can deliver a call's CANCEL before its CALL_START; that call is
  // then dropped when it starts instead of running uncancelled.
  std::vector<uint32_t> early_cancels_;
  // A freed call slot kept by the reader thread (reader thread only): the inline calls it
  // frees itself come back here, so the next call needs no trip to the free list.
  Call* spare_ = nullptr;
  // An inline handler (or a call that ended before reaching its handler) is running on
  // the reader thread. Written by it alone, so no locked instruction per call; read by
  // Server::Shutdown while it waits for calls to finish (pool calls are counted by the
  // server).
  std::atomic<bool> inline_busy_{false};

  std::mutex mu_;  // std::mutex: see client_connection.h
  std::condition_variable idle_;  // signalled when running_ drops to 0
  absl::flat_hash_map<uint32_t, Call*> calls_ ABSL_GUARDED_BY(mu_);
  // The one-frame call whose inline handler is running on the reader thread, kept out of
  // calls_ (no frame for it can be read while it runs; only CancelAll looks for it).
  Call* inline_call_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<std::unique_ptr<Call>> all_calls_ ABSL_GUARDED_BY(mu_);
  std::vector<Call*> free_calls_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;  // pool handlers in progress
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t last_call_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ferry

#endif  // FERRY_RUNTIME_SERVER_CONNECTION_H_
