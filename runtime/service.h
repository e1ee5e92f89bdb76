// The server-side view of a generated service: its method table and dispatch.
//
// Overview: protoc-gen-ferry emits, for each service Foo, a class Foo::Service deriving
// from ferry::Service with one virtual handler per method. The server looks methods up
// in ferry_descriptor() by path and calls ferry_dispatch(index, ...), a switch that
// decodes the request, calls the handler and encodes the reply through RunUnary below.
// Nothing here is meant to be written by hand, but a hand-written Service works too.
//
// Example (generated):
//   absl::Status Foo::Service::ferry_dispatch(int i, ferry::ServerContext& ctx,
//                                             const ferry::DispatchRequest& req,
//                                             ferry::DispatchReply* reply) {
//     switch (i) {
//       case 0: return ::ferry::internal::RunUnary(this, &Service::Get, ctx, req, reply);
//       default: return ::ferry::internal::NoSuchMethod(i);
//     }
//   }
#ifndef FERRY_RUNTIME_SERVICE_H_
#define FERRY_RUNTIME_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/arena.h"
#include "runtime/context.h"
#include "runtime/serialize.h"

namespace ferry {

enum class MethodKind : unsigned char { kUnary, kClientStreaming, kServerStreaming, kBidiStreaming };

struct MethodDescriptor {
  absl::string_view name;  // "Get"
  absl::string_view path;  // "/package.Foo/Get"
  MethodKind kind;
};

struct ServiceDescriptor {
  absl::string_view full_name;  // "package.Foo"
  absl::Span<const MethodDescriptor> methods;
};

// The serialized request ferry_dispatch decodes: bytes in memory, or a large payload that
// is still arriving on a transport that streams it (Connection::ReceiveStreaming), which
// is then parsed as it arrives instead of after a copy of the whole. Converts implicitly
// from bytes, so ferry_dispatch(i, ctx, "bytes", &reply) works.
class DispatchRequest {
 public:
  DispatchRequest(absl::string_view bytes) : bytes_(bytes), size_(bytes.size()) {}  // NOLINT
  DispatchRequest(const std::string& bytes)  // NOLINT
      : DispatchRequest(absl::string_view(bytes)) {}
  DispatchRequest(const char* bytes) : DispatchRequest(absl::string_view(bytes)) {}  // NOLINT
  // A request of `size` bytes that parse(arg, message) decodes into `message` (at most
  // once: the bytes are gone after), returning false if they are not a valid message.
  DispatchRequest(size_t size, bool (*parse)(void* arg, google::protobuf::MessageLite* message),
                  void* arg)
      : size_(size), parse_(parse), arg_(arg) {}

  size_t size() const { return size_; }
  // The bytes; empty for a request parsed as it arrives.
  absl::string_view bytes() const { return bytes_; }
  // Decodes the request into `message` (cleared first). False if it does not decode.
  bool ParseInto(google::protobuf::MessageLite* message) const {
    if (parse_ != nullptr) return parse_(arg_, message);
    return message->ParseFromArray(bytes_.data(), static_cast<int>(bytes_.size()));
  }

 private:
  absl::string_view bytes_;
  size_t size_;
  bool (*parse_)(void*, google::protobuf::MessageLite*) = nullptr;
  void* arg_ = nullptr;
};

// What ferry_dispatch leaves for the server to send: the reply message itself, which the
// server then serializes straight into the transport (Connection::SendMessage), or its
// serialized bytes. A message is borrowed from the dispatching thread's reused objects
// (RunUnary below): it stays valid, unchanged, until that thread dispatches again, and
// the server sends it before then.
class DispatchReply {
 public:
  // The message to serialize, or nullptr when the reply is bytes().
  const google::protobuf::MessageLite* message() const { return message_; }
  // The serialized reply when message() is nullptr.
  absl::string_view bytes() const { return bytes_; }
  // Serialized size, in either form.
  size_t size() const { return message_ != nullptr ? message_size_ : bytes_.size(); }

  // The serialized reply in either form: a message is serialized into bytes() first.
  absl::string_view Flatten() {
    if (message_ != nullptr) {
      internal::SerializeWithSize(*message_, message_size_, &bytes_);
      message_ = nullptr;
    }
    return bytes_;
  }

  // `message` (valid as described above), whose serialized size is `size` (computed
  // just before, cached in the message).
  void SetMessage(const google::protobuf::MessageLite* message, size_t size) {
    message_ = message;
    message_size_ = size;
  }
  // Makes the reply bytes() and returns its buffer for the caller to replace (resize
  // and overwrite: a steady size then needs no zero fill).
  std::string* SetBytes() {
    message_ = nullptr;
    return &bytes_;
  }

 private:
  const google::protobuf::MessageLite* message_ = nullptr;
  size_t message_size_ = 0;
  std::string bytes_;
};

// Base class of generated services. The server does not own services; a service must
// outlive the server it is registered with. Handlers may be called from several threads
// at once and must be thread-safe.
class Service {
 public:
  virtual ~Service() = default;
  virtual const ServiceDescriptor& ferry_descriptor() const = 0;

  // Runs method `method_index` (an index into ferry_descriptor().methods) on the
  // serialized `request`, leaving the reply in `reply` (which the caller may reuse
  // between calls) when the status is OK. Returns the handler's status verbatim,
  // INVALID_ARGUMENT if the request does not decode, INTERNAL if the reply does not
  // encode.
  virtual absl::Status ferry_dispatch(int method_index, ServerContext& ctx,
                                      const DispatchRequest& request, DispatchReply* reply) = 0;
};

namespace internal {

// Messages larger than this (serialized) are not kept for reuse after their call, so a
// thread keeps at most a few small messages per method type.
inline constexpr size_t kReuseMessagesUpTo = 64 * 1024;

// Decodes the request into *req, runs the handler, and leaves *resp in `reply`: borrowed
// (`borrow`: *resp outlives the reply's send) or serialized into its bytes.
template <typename Req, typename Resp, typename S, typename Base>
absl::Status RunUnaryWith(S* service,
                          absl::Status (Base::*handler)(ServerContext&, const Req&, Resp*),
                          ServerContext& ctx, const DispatchRequest& request, Req* req,
                          Resp* resp, DispatchReply* reply, bool borrow) {
  if (!request.ParseInto(req)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode ", req->GetTypeName(), " request for ", ctx.method()));
  }
  absl::Status status = (service->*handler)(ctx, *req, resp);
  if (!status.ok()) return status;
  const size_t size = MessageSize(*resp);
  if (borrow && resp->IsInitialized()) {
    reply->SetMessage(resp, size);
  } else if (borrow || !SerializeWithSize(*resp, size, reply->SetBytes())) {
    return absl::InternalError(absl::StrCat("cannot encode ", resp->GetTypeName(), " reply for ",
                                            ctx.method()));
  }
  return absl::OkStatus();
}

// Decodes Req, runs (service->*handler)(ctx, req, &resp), leaves resp in `reply`.
//
// The request and reply objects are kept per thread and per method type and reused
// (cleared) by the next call, so a steady stream of calls allocates nothing for message
// objects and parses into buffers that already have capacity; the reply is lent to
// `reply` until then (the server serializes it straight into the transport). Messages
// that grew past kReuseMessagesUpTo are dropped when the thread's next call of that type
// starts. A handler re-entering dispatch on the same thread (a service calling another
// one in-process, inline) gets fresh messages on an arena whose first block is on the
// stack, and a serialized reply.
template <typename Req, typename Resp, typename S, typename Base>
absl::Status RunUnary(S* service, absl::Status (Base::*handler)(ServerContext&, const Req&, Resp*),
                      ServerContext& ctx, const DispatchRequest& request,
                      DispatchReply* reply) {
  struct Reused {
    Req req;
    Resp resp;
    bool busy = false;
    bool grew = false;  // the last call's messages grew past kReuseMessagesUpTo
  };
  thread_local std::unique_ptr<Reused> reused;
  if (reused != nullptr && reused->grew && !reused->busy) reused.reset();
  if (reused == nullptr) reused = std::make_unique<Reused>();
  if (reused->busy) {
    alignas(8) char initial_block[2048];
    google::protobuf::ArenaOptions opts;
    opts.initial_block = initial_block;
    opts.initial_block_size = sizeof(initial_block);
    google::protobuf::Arena arena(opts);
    return RunUnaryWith(service, handler, ctx, request,
                        google::protobuf::Arena::CreateMessage<Req>(&arena),
                        google::protobuf::Arena::CreateMessage<Resp>(&arena), reply,
                        /*borrow=*/false);
  }
  Reused* r = reused.get();
  r->busy = true;
  r->resp.Clear();
  absl::Status status =
      RunUnaryWith(service, handler, ctx, request, &r->req, &r->resp, reply, /*borrow=*/true);
  r->busy = false;
  r->grew = request.size() > kReuseMessagesUpTo ||
            (status.ok() && reply->size() > kReuseMessagesUpTo);
  return status;
}

inline absl::Status NoSuchMethod(int method_index) {
  return absl::UnimplementedError(absl::StrCat("no method with index ", method_index));
}

}  // namespace internal
}  // namespace ferry

#endif  // FERRY_RUNTIME_SERVICE_H_
