#include "runtime/server_connection.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/clock.h"
#include "runtime/server_impl.h"

namespace ferry {
namespace {

// A client must say HELLO this soon after connecting, or it is dropped.
constexpr absl::Duration kHandshakeTimeout = absl::Seconds(10);
// A client that does not read its replies for this long is dropped, so a stuck peer
// cannot hold a pool worker forever.
constexpr int kReplySendTimeoutSeconds = 10;

// The bound on sending a reply (per call: without absl's out-of-line time arithmetic).
absl::Time ReplySendDeadline() {
  return internal::CoarseNowPlusSeconds(kReplySendTimeoutSeconds);
}
// How many not-yet-started calls' CANCELs a connection remembers (see early_cancels_);
// a client that cancels more calls than this before sending them is not worth more memory.
constexpr size_t kMaxEarlyCancels = 64;

}  // namespace

ServerConnection::ServerConnection(ServerImpl* server, std::unique_ptr<Connection> conn)
    : server_(server), conn_(std::move(conn)), peer_(conn_->PeerDescription()) {}

ServerConnection::~ServerConnection() {
  conn_->Close();
  if (thread_.joinable()) thread_.join();
}

void ServerConnection::Start() { thread_ = std::thread(&ServerConnection::Run, this); }

bool ServerConnection::Handshake() {
  absl::StatusOr<Frame> frame = conn_->Receive(absl::Now() + kHandshakeTimeout);
  if (!frame.ok() || frame->header.type != FrameType::kHello) return false;
  absl::StatusOr<HelloPayload> hello = DecodeHello(frame->payload);
  if (!hello.ok()) return false;
  peer_max_message_ = hello->max_message_size;
  unary_frames_ = (hello->features & kFeatureUnaryFrames) != 0;
  max_reply_ = std::min(peer_max_message_, server_->options().max_send_message_size);
  scratch_.clear();
  EncodeHello(HelloPayload{server_->options().max_receive_message_size, kOwnFeatures}, &scratch_);
  const OutFrame out = MakeFrame(FrameType::kHello, kFlagAck, 0, scratch_);
  return conn_->Send({&out, 1}, absl::Now() + kHandshakeTimeout).ok();
}

void ServerConnection::Run() {
  if (Handshake()) {
    for (;;) {
      absl::StatusOr<Frame> frame =
          conn_->ReceiveStreaming(absl::InfiniteFuture(), kStreamPayloadsFrom);
      if (frame.ok() && frame->streamed &&
          !(frame->header.type == FrameType::kCallStart &&
            (frame->header.flags & kFlagWithMessage) != 0)) {
        // Only a one-frame unary request is parsed as it arrives; other payloads whole.
        if (ReadStreamedRest(&streamed_)) {
          frame->payload = streamed_;
          frame->streamed = false;
        } else {
          frame = conn_->StreamedPayloadStatus();
        }
      }
      if (!frame.ok()) {
        // Malformed or oversized frames land here too: the stream cannot be trusted after
        // them, so the connection is closed; other connections are unaffected.
        if (frame.status().code() != absl::StatusCode::kUnavailable) {
          ProtocolError(frame.status().message());
        }
        break;
      }
      bool ok = true;
      switch (frame->header.type) {
        case FrameType::kCallStart:
          ok = OnCallStart(*frame);
          break;
        case FrameType::kMessage:
          ok = OnMessage(*frame);
          break;
        case FrameType::kHalfClose:
          ok = OnHalfClose(frame->header.call_id);
          break;
        case FrameType::kCancel:
          OnCancel(frame->header.call_id);
          break;
        case FrameType::kPing:
          if ((frame->header.flags & kFlagAck) == 0) {
            scratch_.assign(frame->payload.data(), frame->payload.size());
            const OutFrame ack = MakeFrame(FrameType::kPing, kFlagAck, 0, scratch_);
            ok = conn_->Send({&ack, 1}, ReplySendDeadline()).ok();
          }
          break;
        case FrameType::kGoAway:
          break;  // the client is leaving; it closes the connection when it is done
        case FrameType::kHello:
        case FrameType::kCallEnd:
          ProtocolError(absl::StrCat("client sent ", FrameTypeName(frame->header.type)));
          ok = false;
          break;
      }
      if (!ok) break;
    }
  }
  conn_->Close();
  // Calls still in flight belong to a client that is gone: cancel them, wait for their
  // pool handlers, and only then let the connection be freed.
  CancelAll(absl::UnavailableError("client disconnected"));
  {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return running_ == 0; });
  }
  finished_.store(true, std::memory_order_release);
}

void ServerConnection::ProtocolError(absl::string_view what) {
  scratch_.clear();
  uint32_t last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last = last_call_id_;
  }
  EncodeGoAway(GoAwayPayload{last, absl::StatusCode::kInvalidArgument,
                             absl::StrCat("protocol error: ", what)},
               &scratch_);
  const OutFrame f = MakeFrame(FrameType::kGoAway, 0, 0, scratch_);
  (void)conn_->Send({&f, 1}, internal::CoarseNow() + absl::Milliseconds(100));
}

ServerConnection::Call* ServerConnection::FindLocked(uint32_t id) {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second;
}

ServerConnection::Call* ServerConnection::AllocateLocked() {
  if (free_calls_.empty()) {
    all_calls_.push_back(std::make_unique<Call>());
    return all_calls_.back().get();
  }
  Call* c = free_calls_.back();
  free_calls_.pop_back();
  return c;
}

void ServerConnection::ResetContext(Call* call) {
  // The clock is read only when there is a deadline to convert.
  const absl::Time deadline = call->start.budget_us == kNoDeadline
                                  ? absl::InfiniteFuture()
                                  : BudgetMicrosToDeadline(call->start.budget_us, internal::Now());
  ServerCallAccess::Reset(*call->ctx, call->start.method, deadline, &call->start.metadata, peer_);
}

void ServerConnection::Clear(Call* call) {
  call->has_request = false;
  call->running = false;
  call->pooled = false;
  call->ended = false;
  call->method = nullptr;
}

void ServerConnection::Release(Call* call) {
  Clear(call);
  free_calls_.push_back(call);
}

void ServerConnection::Reject(uint32_t id, const absl::Status& status) {
  scratch_.clear();
  EncodeCallEnd(status, {}, &scratch_);
  const OutFrame f = MakeFrame(FrameType::kCallEnd, 0, id, scratch_);
  if (!conn_->Send({&f, 1}, ReplySendDeadline()).ok()) conn_->Close();
}

bool ServerConnection::CancelledEarly(uint32_t id) {
  if (early_cancels_.empty()) return false;
  auto it = std::find(early_cancels_.begin(), early_cancels_.end(), id);
  if (it == early_cancels_.end()) return false;
  // Cancelled before it started: the client has already ended it (CANCELLED), so it is
  // neither run nor answered; its MESSAGE/HALF_CLOSE frames find no call.
  early_cancels_.erase(it);
  std::lock_guard<std::mutex> lock(mu_);
  last_call_id_ = std::max(last_call_id_, id);
  return true;
}

ServerConnection::Call* ServerConnection::TakeSpare() {
  if (Call* c = spare_) {
    spare_ = nullptr;
    return c;
  }
  std::lock_guard<std::mutex> lock(mu_);
  return AllocateLocked();
}

void ServerConnection::ReturnSpare(Call* call) {
  Clear(call);
  if (spare_ == nullptr) {
    spare_ = call;
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  Release(call);
}

absl::Status ServerConnection::ReadStreamedCallStart(uint32_t payload_length, Call* call,
                                                     size_t* request_size, bool* torn) {
  *torn = false;
  google::protobuf::io::ZeroCopyInputStream* in = conn_->StreamedPayload();
  std::string& buf = call->start_payload;
  buf.clear();
  // The call-start bytes are not length-prefixed: take the payload in growing pieces
  // until they decode (a few hundred bytes, as a rule), then give back what belongs to
  // the request.
  absl::Status s = absl::InvalidArgumentError("CALL_START payload truncated");
  bool need_more = true;
  const void* data;
  int size;
  while (need_more && buf.size() <= kMaxControlPayload && in->Next(&data, &size)) {
    const char* piece = static_cast<const char*>(data);
    size_t used = 0;
    while (used < static_cast<size_t>(size)) {
      const size_t n =
          std::min(static_cast<size_t>(size) - used, std::max<size_t>(buf.size(), 256));
      buf.append(piece + used, n);
      used += n;
      absl::string_view request;
      s = DecodeCallStartPrefix(buf, &call->start, &request, &need_more);
      if (s.ok()) {
        // The previous try failed for want of bytes, so the request starts in this piece.
        in->BackUp(static_cast<int>(size - used + request.size()));
        buf.resize(buf.size() - request.size());  // (the views end before the request)
        *request_size = payload_length - buf.size();
        return absl::OkStatus();
      }
      if (!need_more || buf.size() > kMaxControlPayload) break;
    }
  }
  if (absl::Status io = conn_->StreamedPayloadStatus(); !io.ok()) {
    *torn = true;
    return io;
  }
  if (need_more && buf.size() > kMaxControlPayload) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "call header exceeds the limit of ", kMaxControlPayload, " bytes (", s.message(), ")"));
  }
  return s;
}

bool ServerConnection::ReadStreamedRest(std::string* out) {
  google::protobuf::io::ZeroCopyInputStream* in = conn_->StreamedPayload();
  out->clear();
  const void* data;
  int size;
  while (in->Next(&data, &size)) out->append(static_cast<const char*>(data), size);
  return conn_->StreamedPayloadStatus().ok();
}

namespace {
bool ParseStreamedRequest(void* connection, google::protobuf::MessageLite* message) {
  bool parsed = false;
  // A torn stream fails the parse here; the next Receive reports it and ends the
  // connection.
  return static_cast<Connection*>(connection)->ParseStreamedPayload(message, &parsed).ok() &&
         parsed;
}
}  // namespace

bool ServerConnection::OnUnaryCall(const Frame& frame) {
  const uint32_t id = frame.header.call_id;
  if (CancelledEarly(id)) return true;
  // Decoded and set up before the call is registered, so one lock registers and claims
  // it. Decoded in place: the views stay valid until the next Receive(), which an inline
  // handler runs before; a pool handler gets copies. A streamed request (a large one
  // still arriving) has its call-start bytes read first; an inline handler's dispatch
  // then parses the request as it arrives, a pool handler gets a copy.
  Call* call = TakeSpare();
  absl::string_view request;
  size_t request_size = 0;
  absl::Status s;
  if (frame.streamed) {
    bool torn = false;
    s = ReadStreamedCallStart(frame.header.payload_length, call, &request_size, &torn);
    if (torn) {
      ReturnSpare(call);
      return false;  // the connection is lost; Run's next Receive says why
    }
  } else {
    s = DecodeCallStartWithMessage(frame.payload, &call->start, &request);
    request_size = request.size();
  }
  const size_t header = frame.header.payload_length - request_size;
  const MethodEntry* method = nullptr;
  if (s.ok() && header > kMaxControlPayload) {
    s = absl::ResourceExhaustedError(absl::StrCat("call header of ", header,
                                                  " bytes exceeds the limit of ",
                                                  kMaxControlPayload));
  } else if (s.ok() && request_size > server_->options().max_receive_message_size) {
    s = absl::ResourceExhaustedError(
        absl::StrCat("request of ", request_size, " bytes exceeds the limit of ",
                     server_->options().max_receive_message_size, " bytes"));
  } else if (s.ok() && (method = LookUp(call->start.method)) == nullptr) {
    s = absl::UnimplementedError(absl::StrCat("unknown method ", call->start.method));
  } else if (s.ok() && method->kind != MethodKind::kUnary) {
    s = absl::UnimplementedError(
        absl::StrCat("streaming method ", call->start.method, " is not supported yet"));
  }
  const bool inline_handler = s.ok() && method->thread == HandlerThread::kInline;
  if (s.ok()) {
    if (!inline_handler) {
      // A pool handler outlives the frame: copies (the streamed call-start bytes already
      // are one).
      if (frame.streamed) {
        if (!ReadStreamedRest(&call->request)) {
          ReturnSpare(call);
          return false;
        }
      } else {
        call->start_payload.assign(frame.payload.data(), frame.payload.size());
        (void)DecodeCallStartWithMessage(call->start_payload, &call->start, &request);
        call->request.assign(request.data(), request.size());
      }
      request = call->request;
    }
    call->id = id;
    call->method = method;
    ResetContext(call);
  }
  bool duplicate = false, draining = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    duplicate = !calls_.empty() && calls_.contains(id);
    if (!duplicate) {
      last_call_id_ = std::max(last_call_id_, id);
      draining = draining_;
      if (!draining && s.ok()) {
        if (inline_handler) {
          inline_call_ = call;
        } else {
          calls_.emplace(id, call);
        }
        // Complete already: claimed for its handler as OnMessage does.
        call->has_request = true;
        call->running = true;
      }
    }
  }
  if (duplicate || draining || !s.ok()) {
    ReturnSpare(call);
    if (duplicate) {
      ProtocolError(absl::StrCat("call id ", id, " started twice"));
      return false;
    }
    Reject(id, draining ? absl::UnavailableError("server is shutting down") : s);
    return true;
  }
  Dispatch(call,
           frame.streamed && inline_handler
               ? DispatchRequest(request_size, &ParseStreamedRequest, conn_.get())
               : DispatchRequest(request),
           /*just_started=*/true);
  return true;
}

bool ServerConnection::OnCallStart(const Frame& frame) {
  // kFlagWithMessage: the call's only request follows the call-start bytes (frame.h).
  if ((frame.header.flags & kFlagWithMessage) != 0) return OnUnaryCall(frame);
  const uint32_t id = frame.header.call_id;
  if (frame.payload.size() > kMaxControlPayload) {
    Reject(id, absl::ResourceExhaustedError(absl::StrCat(
                   "call header of ", frame.payload.size(), " bytes exceeds the limit of ",
                   kMaxControlPayload)));
    return true;
  }
  if (CancelledEarly(id)) return true;
  Call* call = nullptr;
  bool duplicate = false, draining = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    duplicate = calls_.contains(id);
    if (!duplicate) {
      last_call_id_ = std::max(last_call_id_, id);
      draining = draining_;
      if (!draining) call = AllocateLocked();
    }
  }
  // Replies and protocol errors are sent with mu_ released (they take it themselves).
  if (duplicate) {
    ProtocolError(absl::StrCat("call id ", id, " started twice"));
    return false;
  }
  if (draining) {
    Reject(id, absl::UnavailableError("server is shutting down"));
    return true;
  }
  call->start_payload.assign(frame.payload.data(), frame.payload.size());
  absl::Status s = DecodeCallStart(call->start_payload, &call->start);
  const MethodEntry* method = s.ok() ? LookUp(call->start.method) : nullptr;
  if (!s.ok() || method == nullptr || method->kind != MethodKind::kUnary) {
    if (!s.ok()) {
      Reject(id, s);
    } else if (method == nullptr) {
      Reject(id, absl::UnimplementedError(
                     absl::StrCat("unknown method ", call->start.method)));
    } else {
      Reject(id, absl::UnimplementedError(absl::StrCat(
                     "streaming method ", call->start.method, " is not supported yet")));
    }
    std::lock_guard<std::mutex> lock(mu_);
    Release(call);
    return true;
  }
  call->id = id;
  call->method = method;
  ResetContext(call);
  std::lock_guard<std::mutex> lock(mu_);
  calls_.emplace(id, call);
  return true;
}

const MethodEntry* ServerConnection::LookUp(absl::string_view path) {
  // Calls on one connection mostly repeat a method: compare the path with the last one
  // rather than hash it again.
  if (last_method_ != nullptr && path == last_path_) return last_method_;
  const MethodEntry* m = server_->FindMethod(path);
  if (m != nullptr) {
    last_path_.assign(path.data(), path.size());
    last_method_ = m;
  }
  return m;
}

bool ServerConnection::OnMessage(const Frame& frame) {
  const uint32_t id = frame.header.call_id;
  if ((frame.header.flags & kFlagEndOfCall) != 0) {
    ProtocolError("client sent MESSAGE with END_OF_CALL");
    return false;
  }
  Call* call;
  {
    std::lock_guard<std::mutex> lock(mu_);
    call = FindLocked(id);
    if (call == nullptr || call->running) return true;  // call already ended: ignore
    absl::Status error;
    if (call->has_request) {
      error = absl::InvalidArgumentError("unary call sent more than one request");
    } else if (frame.payload.size() > server_->options().max_receive_message_size) {
      error = absl::ResourceExhaustedError(
          absl::StrCat("request of ", frame.payload.size(), " bytes exceeds the limit of ",
                       server_->options().max_receive_message_size, " bytes"));
    }
    if (!error.ok()) {
      calls_.erase(id);
      Release(call);
      Reject(id, error);
      return true;
    }
    if ((frame.header.flags & kFlagEndOfStream) == 0) {
      // The request is complete only at HALF_CLOSE; keep a copy until then.
      call->request.assign(frame.payload.data(), frame.payload.size());
      call->has_request = true;
      return true;
    }
    call->has_request = true;
    // Claimed under mu_: from here a concurrent CancelAll (shutdown) leaves the call to
    // its handler instead of freeing it under our feet.
    call->running = true;
  }
  Dispatch(call, frame.payload);
  return true;
}

bool ServerConnection::OnHalfClose(uint32_t id) {
  Call* call;
  {
    std::lock_guard<std::mutex> lock(mu_);
    call = FindLocked(id);
    if (call == nullptr || call->running) return true;
    if (!call->has_request) {
      calls_.erase(id);
      Release(call);
      Reject(id, absl::InvalidArgumentError("unary call half-closed without a request"));
      return true;
    }
    call->running = true;  // see OnMessage
  }
  Dispatch(call, call->request);
  return true;
}

void ServerConnection::OnCancel(uint32_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Call* call = FindLocked(id);
  if (call == nullptr) {
    // Unknown: either the call already ended (its id is at most the last one started),
    // or its CANCEL overtook its CALL_START. Call ids grow per connection.
    if (id > last_call_id_ &&
        std::find(early_cancels_.begin(), early_cancels_.end(), id) == early_cancels_.end()) {
      if (early_cancels_.size() == kMaxEarlyCancels) early_cancels_.erase(early_cancels_.begin());
      early_cancels_.push_back(id);
    }
    return;
  }
  calls_.erase(id);
  ServerCallAccess::Cancel(*call->ctx);
  if (call->running) {
    // The pool handler still owns the call: it sees IsCancelled() and frees the call when
    // it returns, sending nothing. The client has already given up on it.
    call->ended = true;
  } else {
    Release(call);
  }
}

void ServerConnection::Dispatch(Call* call, const DispatchRequest& request, bool just_started) {
  // The caller has set call->running under mu_; Finish() releases the call. Until it is
  // handed to the pool it runs here, on the reader thread.
  inline_busy_.store(true, std::memory_order_relaxed);
  if (call->ctx->deadline() != absl::InfiniteFuture() &&
      (just_started ? call->start.budget_us == 0 : internal::Now() >= call->ctx->deadline())) {
    Finish(call, absl::DeadlineExceededError("deadline exceeded before the handler ran"));
    return;
  }
  if (call->method->thread == HandlerThread::kInline) {
    RunHandler(call, request);
    return;
  }
  // (Streamed requests reach here only for inline handlers.)
  const absl::string_view bytes = request.bytes();
  if (bytes.data() != call->request.data()) call->request.assign(bytes.data(), bytes.size());
  // Counted by the server from here (before inline_busy_ clears, so Shutdown, which reads
  // inline_busy_ first, never sees neither).
  server_->CallStarted();
  inline_busy_.store(false, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mu_);
    call->pooled = true;
    ++running_;
  }
  server_->pool().Submit([this, call] { RunHandler(call, call->request); });
}

void ServerConnection::RunHandler(Call* call, const DispatchRequest& request) {
  absl::Status status = call->method->service->ferry_dispatch(call->method->index, *call->ctx,
                                                              request, &call->reply);
  if (status.ok() && ServerCallAccess::DeadlinePassed(*call->ctx)) {
    status = absl::DeadlineExceededError("deadline exceeded while the handler ran");
  } else if (status.ok() && call->reply.size() > max_reply_) {
    status = absl::ResourceExhaustedError(absl::StrCat(
        "reply of ", call->reply.size(), " bytes exceeds the limit of ", max_reply_,
        " bytes"));
  }
  Finish(call, std::move(status));
}

void ServerConnection::Finish(Call* call, absl::Status status) {
  if (!call->pooled) {
    // Inline (or never dispatched): we are on the reader thread, the only thread that
    // takes calls off the free list, so the call can be released before its reply is
    // sent from its buffers; one lock instead of two.
    bool send;
    {
      std::lock_guard<std::mutex> lock(mu_);
      send = !call->ended;
      if (send) {
        if (call == inline_call_) {
          inline_call_ = nullptr;
        } else {
          calls_.erase(call->id);
        }
      }
      if (spare_ == nullptr) {
        Clear(call);
        spare_ = call;  // kept by the reader thread for its next call
      } else {
        Release(call);
      }
    }
    if (send) SendEnd(call, status);
    inline_busy_.store(false, std::memory_order_release);
    return;
  }
  bool send;
  {
    std::lock_guard<std::mutex> lock(mu_);
    send = !call->ended;
    if (send) {
      call->ended = true;
      calls_.erase(call->id);
    }
  }
  if (send) SendEnd(call, status);
  server_->CallFinished();
  std::lock_guard<std::mutex> lock(mu_);
  // Last touch of `this`: once running_ reaches 0 and mu_ is released, the reader thread
  // may finish and the connection may be freed.
  if (call->pooled && --running_ == 0) idle_.notify_all();
  Release(call);
}

void ServerConnection::SendEnd(Call* call, const absl::Status& status) {
  const Metadata& trailers = ServerCallAccess::trailers(*call->ctx);
  absl::string_view end = OkCallEndPayload();
  if (!status.ok() || !trailers.empty()) {
    call->end_payload.clear();
    EncodeCallEnd(status, trailers, &call->end_payload);
    end = call->end_payload;
  }
  const absl::Time deadline = ReplySendDeadline();
  absl::Status sent;
  if (unary_frames_ && status.ok() && trailers.empty()) {
    // The reply ends the call (OK, no trailers): one frame, the reply message serialized
    // by the transport itself (shm: straight into its ring).
    DispatchReply& reply = call->reply;
    const FrameHeader header{FrameType::kMessage, kFlagEndOfCall, call->id,
                             static_cast<uint32_t>(reply.size())};
    sent = reply.message() != nullptr
               ? conn_->SendMessage(header, {}, *reply.message(), reply.size(), deadline)
               : conn_->Send({OutFrame{header, reply.bytes()}}, deadline);
  } else if (status.ok()) {
    const OutFrame frames[2] = {
        MakeFrame(FrameType::kMessage, 0, call->id, call->reply.Flatten()),
        MakeFrame(FrameType::kCallEnd, 0, call->id, end)};
    sent = conn_->Send(frames, deadline);
  } else {
    const OutFrame f = MakeFrame(FrameType::kCallEnd, 0, call->id, end);
    sent = conn_->Send({&f, 1}, deadline);
  }
  if (!sent.ok()) conn_->Close();
}

void ServerConnection::GoAway() {
  uint32_t last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) return;
    draining_ = true;
    last = last_call_id_;
  }
  std::string payload;
  EncodeGoAway(GoAwayPayload{last, absl::StatusCode::kUnavailable, "server is shutting down"},
               &payload);
  const OutFrame f = MakeFrame(FrameType::kGoAway, 0, 0, payload);
  (void)conn_->Send({&f, 1}, internal::CoarseNow() + absl::Seconds(1));
}

void ServerConnection::CancelAll(const absl::Status& why) {
  std::vector<std::pair<uint32_t, bool>> ended;  // call id, whether CALL_END must be sent
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Call*> live;
    for (const auto& [id, call] : calls_) live.push_back(call);
    if (inline_call_ != nullptr) {
      // Its handler is running on the reader thread: it sees IsCancelled(), and Finish
      // sends nothing (ended).
      ServerCallAccess::Cancel(*inline_call_->ctx);
      inline_call_->ended = true;
      ended.emplace_back(inline_call_->id, true);
      inline_call_ = nullptr;
    }
    for (Call* call : live) {
      calls_.erase(call->id);
      ServerCallAccess::Cancel(*call->ctx);
      ended.emplace_back(call->id, true);
      if (call->running) {
        call->ended = true;
      } else {
        Release(call);
      }
    }
  }
  std::string payload;
  EncodeCallEnd(why, {}, &payload);
  for (const auto& [id, send] : ended) {
    const OutFrame f = MakeFrame(FrameType::kCallEnd, 0, id, payload);
    if (!conn_->Send({&f, 1}, internal::CoarseNow() + absl::Milliseconds(100)).ok()) break;
  }
}

}  // namespace ferry
