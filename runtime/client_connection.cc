#include "runtime/client_connection.h"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/clock.h"
#include "runtime/serialize.h"

namespace ferry {
namespace {

constexpr absl::string_view kRetryPayload = "ferry.runtime/retry-on-new-connection";

// A connection nobody has read from for this long may have lost its peer silently (the
// server died or restarted while we were idle). Before reusing it, a non-blocking read
// checks for EOF, so the call goes to a fresh connection instead of failing. Back-to-back
// calls never pay for the check; after an idle millisecond its ~1 us is noise. Measured
// on the coarse clock, so "a while" is 1 ms to one clock tick more.
constexpr int64_t kIdleCheckAfterNanos = 1000000;

// How long control frames (CANCEL, PING acks) may wait for buffer space.
constexpr absl::Duration kControlSendTimeout = absl::Seconds(1);

absl::Status RetryStatus(absl::string_view why) {
  absl::Status s = absl::UnavailableError(why);
  s.SetPayload(kRetryPayload, absl::Cord("1"));
  return s;
}

absl::Status Annotate(const absl::Status& s, absl::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

// Waits on `cv` with `mu` held by the caller (locked on return). True on timeout.
bool WaitUntil(std::condition_variable& cv, std::mutex& mu, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu, std::adopt_lock);
  bool timed_out = false;
  if (deadline == absl::InfiniteFuture()) {
    cv.wait(lock);
  } else {
    timed_out = cv.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout;
  }
  lock.release();  // the caller's guard still owns mu
  return timed_out;
}

// Per-thread scratch for serializing requests, so steady-state calls do not allocate.
std::string& ScratchRequest() {
  thread_local std::string buf;
  return buf;
}
CallStartEncoder& ScratchStart() {
  thread_local CallStartEncoder encoder;
  return encoder;
}

// CLOCK_MONOTONIC_COARSE in nanoseconds: a vDSO read of the last tick, several times
// cheaper than absl::Now(); its resolution (1-4 ms) is plenty for the idle check.
int64_t CoarseNowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

struct ClientConnection::PendingCall {
  uint32_t id = 0;
  ClientContext* ctx = nullptr;
  google::protobuf::MessageLite* response = nullptr;
  absl::Time deadline = absl::InfiniteFuture();
  bool got_message = false;
  bool done = false;
  // A sync call whose own thread is reading: nobody waits on its cv.
  bool reading = false;
  absl::Status status;
  // Sync calls: the caller waits on cv (with mu_) for done or for the reader role.
  std::condition_variable cv;
  // Async calls only.
  bool is_async = false;
  absl::AnyInvocable<void(absl::Status) &&> callback;
  std::shared_ptr<ClientConnection> keep_alive;
};

// Work that must happen after mu_ is released: async callbacks, CANCEL frames, PING acks.
class ClientConnection::Completions {
 public:
  void AddAsync(PendingCall* c) { async_.push_back(c); }
  void AddCancel(uint32_t id) { cancels_.push_back(id); }
  void AddPingAck(absl::string_view payload) { ping_acks_.emplace_back(payload); }
  // A PING whose ACK wakes the reader: a sync call cancelled from another thread may be
  // the one blocked in Receive(), and the server sends nothing more for a cancelled call.
  void AddWakePing() { wake_ping_ = true; }
  bool empty() const {
    return async_.empty() && cancels_.empty() && ping_acks_.empty() && !wake_ping_;
  }

  void Run(ClientConnection* conn) {
    for (uint32_t id : cancels_) conn->SendControl(FrameType::kCancel, 0, id, {});
    cancels_.clear();
    if (wake_ping_) conn->SendControl(FrameType::kPing, 0, 0, "wake-up!");
    wake_ping_ = false;
    for (const std::string& p : ping_acks_) conn->SendControl(FrameType::kPing, kFlagAck, 0, p);
    ping_acks_.clear();
    // Callbacks last: one of them may drop the last reference to another connection.
    absl::InlinedVector<PendingCall*, 4> calls;
    calls.swap(async_);
    for (PendingCall* c : calls) {
      c->ctx->Unbind();
      auto callback = std::move(c->callback);
      absl::Status status = std::move(c->status);
      // Async calls are not retried: the internal retry marker is not the user's business.
      if (IsRetryOnNewConnection(status)) status = absl::UnavailableError(status.message());
      delete c;
      std::move(callback)(std::move(status));
    }
  }

 private:
  absl::InlinedVector<PendingCall*, 4> async_;
  absl::InlinedVector<uint32_t, 4> cancels_;
  std::vector<std::string> ping_acks_;
  bool wake_ping_ = false;
};

bool ClientConnection::HasRetryMarker(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable && s.GetPayload(kRetryPayload).has_value();
}

absl::StatusOr<std::shared_ptr<ClientConnection>> ClientConnection::Connect(
    Transport* transport, const Address& address, const ChannelOptions& options,
    absl::Time deadline) {
  ConnectionLimits limits;
  limits.max_frame_payload = std::max(options.max_receive_message_size, kMaxControlPayload);
  const std::string where = absl::StrCat("cannot connect to ", address.ToString(), ": ");
  absl::StatusOr<std::unique_ptr<Connection>> conn =
      transport->Connect(address, limits, deadline);
  if (!conn.ok()) return Annotate(conn.status(), where);

  std::string hello;
  EncodeHello(HelloPayload{options.max_receive_message_size, kOwnFeatures}, &hello);
  const OutFrame out = MakeFrame(FrameType::kHello, 0, 0, hello);
  if (absl::Status s = (*conn)->Send({&out, 1}, deadline); !s.ok()) {
    (*conn)->Close();
    return Annotate(s, where);
  }
  absl::StatusOr<Frame> frame = (*conn)->Receive(deadline);
  if (!frame.ok()) {
    (*conn)->Close();
    return Annotate(frame.status(), absl::StrCat(where, "no HELLO from the server: "));
  }
  if (frame->header.type == FrameType::kGoAway) {
    (*conn)->Close();
    return absl::UnavailableError(absl::StrCat(where, "the server is shutting down"));
  }
  if (frame->header.type != FrameType::kHello) {
    (*conn)->Close();
    return absl::InternalError(absl::StrCat(where, "expected HELLO, got ",
                                            FrameTypeName(frame->header.type)));
  }
  absl::StatusOr<HelloPayload> peer = DecodeHello(frame->payload);
  if (!peer.ok()) {
    (*conn)->Close();
    return Annotate(peer.status(), where);
  }
  return std::shared_ptr<ClientConnection>(new ClientConnection(
      std::move(*conn), options, peer->max_message_size,
      (peer->features & kFeatureUnaryFrames) != 0));
}

ClientConnection::ClientConnection(std::unique_ptr<Connection> conn, const ChannelOptions& options,
                                   uint32_t peer_max_message, bool unary_frames)
    : conn_(std::move(conn)),
      options_(options),
      max_send_(std::min(options.max_send_message_size, peer_max_message)),
      unary_frames_(unary_frames) {
  last_read_nanos_.store(CoarseNowNanos(), std::memory_order_relaxed);
}

ClientConnection::~ClientConnection() {
  Shutdown(absl::CancelledError("channel closed"));
  std::thread helper;
  {
    std::lock_guard<std::mutex> lock(mu_);
    helper_stop_ = true;
    helper_cv_.notify_all();
    helper.swap(helper_);
  }
  if (helper.joinable()) {
    // The helper may itself drop the last reference (see HelperMain); it exits on its own.
    if (helper.get_id() == std::this_thread::get_id()) {
      helper.detach();
    } else {
      helper.join();
    }
  }
}

void ClientConnection::Shutdown(const absl::Status& why) {
  Completions completions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    FailAllLocked(why, completions);
  }
  completions.Run(this);
}

absl::Status ClientConnection::Start(PendingCall* call, ClientContext& ctx,
                                     absl::string_view method,
                                     const google::protobuf::MessageLite& request) {
  // The clock is read only for calls with a deadline.
  int64_t budget_us = kNoDeadline;
  if (call->deadline != absl::InfiniteFuture()) {
    const absl::Time now = internal::Now();
    if (call->deadline <= now) {
      return absl::DeadlineExceededError("deadline passed before the call started");
    }
    budget_us = DeadlineToBudgetMicros(call->deadline, now);
  }
  if (!ctx.metadata().empty()) {
    if (absl::Status s = ValidateMetadata(ctx.metadata()); !s.ok()) return s;
  }
  const size_t size = internal::MessageSize(request);
  if (size > max_send_) {
    return absl::ResourceExhaustedError(absl::StrCat("request of ", size,
                                                     " bytes exceeds the limit of ", max_send_,
                                                     " bytes"));
  }
  absl::string_view start = ScratchStart().Encode(method, budget_us, ctx.metadata());
  if (start.size() > kMaxControlPayload) {
    return absl::ResourceExhaustedError(absl::StrCat("call metadata of ", start.size(),
                                                     " bytes exceeds the limit of ",
                                                     kMaxControlPayload));
  }
  // To a server that takes unary frames, the request travels inside CALL_START when the
  // two fit one frame the server accepts: the transport serializes it right behind the
  // call-start bytes (shm: straight into its ring), so one frame (one header, one read
  // on the other side) carries the whole request.
  const bool one_frame = unary_frames_ && start.size() + size <= max_send_;
  absl::string_view body;
  if (one_frame) {
    if (!request.IsInitialized()) {
      return absl::InternalError(absl::StrCat("cannot encode ", request.GetTypeName()));
    }
  } else {
    std::string& buf = ScratchRequest();
    if (!internal::SerializeWithSize(request, size, &buf)) {
      return absl::InternalError(absl::StrCat("cannot encode ", request.GetTypeName()));
    }
    body = buf;
  }

  uint32_t id;
  const absl::Time deadline = call->deadline;  // an async call may be gone once mu_ is released
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || !usable_.load(std::memory_order_relaxed)) {
      return RetryStatus(absl::StrCat("connection unusable: ", closed_status_.message()));
    }
    // Only changed under mu_: a load and a store, not a locked add.
    do {
      id = next_call_id_.load(std::memory_order_relaxed);
      next_call_id_.store(id + 1, std::memory_order_relaxed);
    } while (id == 0 || calls_.contains(id));
    // Bound under mu_ so that a Cancel() racing with the start finds the call registered
    // (its CancelCall waits for mu_), and an async call cannot complete before its
    // context knows about it. The context points at us until Unbind(), which every
    // path runs while we are alive (a sync caller holds us; an async call's keep_alive).
    if (!ctx.Bind(this, id)) {
      return absl::CancelledError("call cancelled before it started");
    }
    call->id = id;
    AddCallLocked(call);
  }
  // From here on an async call may complete (and be deleted) on another thread at any
  // moment: only `id` is used below.
  absl::Status sent;
  if (one_frame) {
    const FrameHeader header{FrameType::kCallStart, kFlagWithMessage, id,
                             static_cast<uint32_t>(start.size() + size)};
    sent = conn_->SendMessage(header, start, request, size, deadline);
  } else {
    const OutFrame frames[2] = {MakeFrame(FrameType::kCallStart, 0, id, start),
                                MakeFrame(FrameType::kMessage, kFlagEndOfStream, id, body)};
    sent = conn_->Send(frames, deadline);
  }
  if (sent.ok()) return absl::OkStatus();

  // A failed send may have left part of a frame on the stream: the connection is done.
  Completions completions;
  absl::Status result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(id);
    const bool still_ours = it != calls_.end() && it->second == call;
    if (still_ours) RemoveCallLocked(call);
    // Peer gone before it could read the request: safe to retry on a new connection.
    result = sent.code() == absl::StatusCode::kUnavailable
                 ? RetryStatus(sent.message())
                 : sent;
    FailAllLocked(absl::UnavailableError(absl::StrCat("connection lost: ", sent.message())),
                  completions);
    if (!still_ours) result = absl::OkStatus();  // already completed by FailAll/reader
  }
  completions.Run(this);
  return result;
}

bool ClientConnection::StillAlive() {
  // Read recently: checked without the lock, as most calls follow another closely.
  if (CoarseNowNanos() - last_read_nanos_.load(std::memory_order_relaxed) <=
      kIdleCheckAfterNanos) {
    return true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Only a connection nobody is using can have died unnoticed.
  if (reader_active_ || !calls_.empty()) return true;
  return CheckIdleConnectionLocked();
}

bool ClientConnection::CheckIdleConnectionLocked() {
  reader_active_ = true;
  Completions completions;
  for (;;) {
    mu_.unlock();
    // A deadline in the past polls without blocking.
    absl::StatusOr<Frame> frame = conn_->Receive(absl::InfinitePast());
    mu_.lock();
    if (frame.ok()) {
      HandleFrameLocked(*frame, completions);
      continue;
    }
    if (frame.status().code() != absl::StatusCode::kDeadlineExceeded) {
      FailAllLocked(absl::UnavailableError(
                        absl::StrCat("connection lost while idle: ", frame.status().message())),
                    completions);
    }
    break;
  }
  last_read_nanos_.store(CoarseNowNanos(), std::memory_order_relaxed);
  reader_active_ = false;
  HandOffReaderLocked();
  if (!completions.empty()) {
    mu_.unlock();
    completions.Run(this);
    mu_.lock();
  }
  return !closed_ && usable_.load(std::memory_order_relaxed);
}

absl::Status ClientConnection::Call(ClientContext& ctx, absl::string_view method,
                                    const google::protobuf::MessageLite& request,
                                    google::protobuf::MessageLite* response) {
  if (ctx.IsCancelled()) return absl::CancelledError("call cancelled before it started");
  if (!StillAlive()) return RetryStatus("connection was lost while idle");
  PendingCall call;
  call.ctx = &ctx;
  call.response = response;
  call.deadline = ctx.deadline();
  if (absl::Status s = Start(&call, ctx, method, request); !s.ok()) {
    ctx.Unbind();
    return s;
  }

  Completions completions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!call.done) {
      if (!reader_active_) {
        reader_active_ = true;
        call.reading = true;
        ReadAsReaderLocked([&call] { return call.done; }, completions);
        call.reading = false;
        reader_active_ = false;
        HandOffReaderLocked();
        continue;
      }
      const bool timed_out = WaitUntil(call.cv, mu_, call.deadline);
      if (timed_out && !call.done && internal::Now() >= call.deadline) {
        CompleteLocked(&call, absl::DeadlineExceededError("deadline exceeded"), completions);
        completions.AddCancel(call.id);
      }
    }
  }
  if (!completions.empty()) completions.Run(this);
  ctx.Unbind();
  return std::move(call.status);
}

bool ClientConnection::CallAsync(ClientContext& ctx, absl::string_view method,
                                 const google::protobuf::MessageLite& request,
                                 google::protobuf::MessageLite* response,
                                 absl::AnyInvocable<void(absl::Status) &&>& done) {
  if (ctx.IsCancelled()) {
    std::move(done)(absl::CancelledError("call cancelled before it started"));
    return true;
  }
  if (!StillAlive()) return false;
  auto* call = new PendingCall;
  call->ctx = &ctx;
  call->response = response;
  call->deadline = ctx.deadline();
  call->is_async = true;
  call->callback = std::move(done);
  call->keep_alive = shared_from_this();
  absl::Status s = Start(call, ctx, method, request);
  if (!s.ok()) {
    ctx.Unbind();
    if (IsRetryOnNewConnection(s)) {
      done = std::move(call->callback);
      delete call;
      return false;
    }
    auto callback = std::move(call->callback);
    delete call;
    std::move(callback)(std::move(s));
    return true;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    WakeHelperLocked();
  }
  return true;
}

void ClientConnection::CancelCall(uint32_t call_id) {
  Completions completions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return;
    const bool sync = !it->second->is_async;
    CompleteLocked(it->second, absl::CancelledError("call cancelled by the client"), completions);
    completions.AddCancel(call_id);
    // Its thread may be the reader, blocked until a frame comes: make one come.
    if (sync && reader_active_) completions.AddWakePing();
  }
  completions.Run(this);
}

template <typename Until>
void ClientConnection::ReadAsReaderLocked(Until until, Completions& completions) {
  while (!until() && !closed_) {
    const absl::Time wake = NextWakeLocked();
    mu_.unlock();
    absl::StatusOr<Frame> frame = conn_->ReceiveStreaming(wake, kStreamPayloadsFrom);
    mu_.lock();
    if (frame.ok()) {
      HandleFrameLocked(*frame, completions);
    } else if (frame.status().code() != absl::StatusCode::kDeadlineExceeded) {
      FailAllLocked(absl::UnavailableError(absl::StrCat("connection lost: ",
                                                        frame.status().message())),
                    completions);
    }
    // (Not when the frame ended what we wait for: we stop reading, and whoever reads
    // next, or a waiter's own timed wait, expires the others.)
    if (wake != absl::InfiniteFuture() && (!frame.ok() || !until())) {
      const absl::Time now = internal::Now();
      if (now >= wake) ExpireDeadlinesLocked(now, completions);
    }
    if (!completions.empty()) {
      mu_.unlock();
      completions.Run(this);
      mu_.lock();
    }
  }
  last_read_nanos_.store(CoarseNowNanos(), std::memory_order_relaxed);
}

absl::Time ClientConnection::NextWakeLocked() const {
  absl::Time t = absl::InfiniteFuture();
  if (deadline_calls_ == 0) return t;
  for (const auto& [id, call] : calls_) t = std::min(t, call->deadline);
  return t;
}

void ClientConnection::HandleFrameLocked(const Frame& frame, Completions& completions) {
  const uint32_t id = frame.header.call_id;
  if (frame.streamed && frame.header.type != FrameType::kMessage) {
    FailAllLocked(absl::InternalError(absl::StrCat(
                      "protocol error: server sent a ", FrameTypeName(frame.header.type),
                      " frame of ", frame.header.payload_length, " bytes")),
                  completions);
    return;
  }
  switch (frame.header.type) {
    case FrameType::kMessage: {
      auto it = calls_.find(id);
      if (it == calls_.end()) return;  // a late reply to a call that already ended
      PendingCall* call = it->second;
      absl::Status error;
      if (call->got_message) {
        error = absl::InternalError("server sent more than one reply to a unary call");
      } else if (frame.header.payload_length > options_.max_receive_message_size) {
        error = absl::ResourceExhaustedError(
            absl::StrCat("reply of ", frame.header.payload_length, " bytes exceeds the limit of ",
                         options_.max_receive_message_size, " bytes"));
      } else if (frame.streamed) {
        // Parsed from the transport as it arrives (a reply not read here, above, is
        // skipped by the next Receive). The wait for the rest of the frame is bounded by
        // the peer's progress (kStreamStallLimit), so holding mu_ meanwhile is too.
        bool parsed = false;
        if (absl::Status s = conn_->ParseStreamedPayload(call->response, &parsed); !s.ok()) {
          FailAllLocked(absl::UnavailableError(absl::StrCat("connection lost: ", s.message())),
                        completions);
          return;
        }
        if (!parsed) {
          error = absl::InternalError(
              absl::StrCat("cannot decode reply as ", call->response->GetTypeName()));
        }
      } else if (!call->response->ParseFromArray(frame.payload.data(),
                                                 static_cast<int>(frame.payload.size()))) {
        error = absl::InternalError(
            absl::StrCat("cannot decode reply as ", call->response->GetTypeName()));
      }
      if (!error.ok()) {
        CompleteLocked(call, std::move(error), completions);
        // A reply that ends the call leaves nothing on the server to cancel.
        if ((frame.header.flags & kFlagEndOfCall) == 0) completions.AddCancel(id);
        return;
      }
      call->got_message = true;
      // The reply and the end of the call in one frame: OK, no trailing metadata.
      if ((frame.header.flags & kFlagEndOfCall) != 0) {
        CompleteLocked(call, absl::OkStatus(), completions);
      }
      return;
    }
    case FrameType::kCallEnd: {
      auto it = calls_.find(id);
      if (it == calls_.end()) return;
      PendingCall* call = it->second;
      if (absl::Status s = DecodeCallEnd(frame.payload, &end_view_); !s.ok()) {
        CompleteLocked(call, Annotate(s, "malformed reply from server: "), completions);
        return;
      }
      Metadata& trailers = call->ctx->trailers_;
      for (const auto& [k, v] : end_view_.trailers) trailers.emplace_back(k, v);
      absl::Status status;
      if (end_view_.code != absl::StatusCode::kOk) {
        status = absl::Status(end_view_.code, end_view_.message);
      } else if (!call->got_message) {
        status = absl::InternalError("server ended a unary call without a reply");
      }
      CompleteLocked(call, std::move(status), completions);
      return;
    }
    case FrameType::kPing:
      if ((frame.header.flags & kFlagAck) == 0) completions.AddPingAck(frame.payload);
      return;
    case FrameType::kGoAway: {
      absl::StatusOr<GoAwayPayload> g = DecodeGoAway(frame.payload);
      goaway_last_id_ = g.ok() ? g->last_call_id : 0;
      usable_.store(false, std::memory_order_release);
      // Calls the server never saw can safely go to a new connection.
      std::vector<PendingCall*> unseen;
      for (const auto& [cid, call] : calls_) {
        if (cid > goaway_last_id_) unseen.push_back(call);
      }
      for (PendingCall* call : unseen) {
        CompleteLocked(call, RetryStatus("server is shutting down (GOAWAY); call not processed"),
                       completions);
      }
      return;
    }
    case FrameType::kHello:
    case FrameType::kCallStart:
    case FrameType::kHalfClose:
    case FrameType::kCancel:
      FailAllLocked(absl::InternalError(absl::StrCat("protocol error: server sent ",
                                                     FrameTypeName(frame.header.type))),
                    completions);
      return;
  }
}

void ClientConnection::ExpireDeadlinesLocked(absl::Time now, Completions& completions) {
  absl::InlinedVector<PendingCall*, 8> expired;
  for (const auto& [id, call] : calls_) {
    if (call->deadline <= now) expired.push_back(call);
  }
  for (PendingCall* call : expired) {
    completions.AddCancel(call->id);
    CompleteLocked(call, absl::DeadlineExceededError("deadline exceeded"), completions);
  }
}

void ClientConnection::FailAllLocked(const absl::Status& why, Completions& completions) {
  if (!closed_) {
    closed_ = true;
    closed_status_ = why;
    usable_.store(false, std::memory_order_release);
    conn_->Close();  // wakes a reader blocked in Receive
    helper_cv_.notify_all();
  }
  std::vector<PendingCall*> all;
  all.reserve(calls_.size());
  for (const auto& [id, call] : calls_) all.push_back(call);
  for (PendingCall* call : all) CompleteLocked(call, why, completions);
}

void ClientConnection::AddCallLocked(PendingCall* call) {
  calls_.emplace(call->id, call);
  if (call->deadline != absl::InfiniteFuture()) ++deadline_calls_;
  if (call->is_async) ++async_calls_;
}

void ClientConnection::RemoveCallLocked(PendingCall* call) {
  calls_.erase(call->id);
  if (call->deadline != absl::InfiniteFuture()) --deadline_calls_;
  if (call->is_async) --async_calls_;
}

void ClientConnection::CompleteLocked(PendingCall* call, absl::Status status,
                                      Completions& completions) {
  RemoveCallLocked(call);
  call->status = std::move(status);
  call->done = true;
  if (call->is_async) {
    completions.AddAsync(call);
  } else if (!call->reading) {
    call->cv.notify_one();  // (a caller that is the reader sees `done` after this frame)
  }
}

void ClientConnection::HandOffReaderLocked() {
  if (reader_active_ || closed_) return;
  for (const auto& [id, call] : calls_) {
    if (!call->is_async) {
      call->cv.notify_one();
      return;
    }
  }
  if (async_calls_ > 0) WakeHelperLocked();
}

void ClientConnection::WakeHelperLocked() {
  if (reader_active_ || async_calls_ == 0 || closed_) return;
  if (!helper_.joinable()) {
    helper_ = std::thread(&ClientConnection::HelperMain, weak_from_this());
  }
  helper_cv_.notify_one();
}

void ClientConnection::HelperMain(std::weak_ptr<ClientConnection> weak) {
  for (;;) {
    std::shared_ptr<ClientConnection> self = weak.lock();
    if (self == nullptr || !self->HelperStep()) return;
    // `self` is released here; if it was the last reference the destructor runs on this
    // thread, detaches it, and the next weak.lock() fails.
  }
}

bool ClientConnection::HelperStep() {
  Completions completions;
  bool keep_going = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!helper_stop_ && !closed_ && (reader_active_ || async_calls_ == 0)) {
      // Bounded, so the helper regularly lets go of its reference to the connection.
      if (WaitUntil(helper_cv_, mu_, absl::Now() + absl::Seconds(1))) return !helper_stop_;
    }
    if (helper_stop_ || closed_) return false;
    reader_active_ = true;
    ReadAsReaderLocked(
        [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return async_calls_ == 0 || helper_stop_; },
        completions);
    reader_active_ = false;
    HandOffReaderLocked();
    keep_going = !helper_stop_;
  }
  completions.Run(this);
  return keep_going;
}

void ClientConnection::SendControl(FrameType type, uint8_t flags, uint32_t call_id,
                                   absl::string_view payload) {
  const OutFrame f = MakeFrame(type, flags, call_id, payload);
  // Best effort: if the connection is gone, the server cleans the call up anyway.
  (void)conn_->Send({&f, 1}, internal::CoarseNow() + kControlSendTimeout);
}

}  // namespace ferry
