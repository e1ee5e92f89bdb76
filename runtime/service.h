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
//                                             absl::string_view req, std::string* resp) {
//     switch (i) {
//       case 0: return ::ferry::internal::RunUnary(this, &Service::Get, ctx, req, resp);
//       default: return ::ferry::internal::NoSuchMethod(i);
//     }
//   }
#ifndef FERRY_RUNTIME_SERVICE_H_
#define FERRY_RUNTIME_SERVICE_H_

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

// Base class of generated services. The server does not own services; a service must
// outlive the server it is registered with. Handlers may be called from several threads
// at once and must be thread-safe.
class Service {
 public:
  virtual ~Service() = default;
  virtual const ServiceDescriptor& ferry_descriptor() const = 0;

  // Runs method `method_index` (an index into ferry_descriptor().methods) on the
  // serialized `request`, leaving the serialized reply in `response` (which the caller
  // may reuse between calls). Returns the handler's status verbatim, or INVALID_ARGUMENT
  // if the request does not decode.
  virtual absl::Status ferry_dispatch(int method_index, ServerContext& ctx,
                                      absl::string_view request, std::string* response) = 0;
};

namespace internal {

// Decodes Req, runs (service->*handler)(ctx, req, &resp), encodes Resp. The request and
// reply live on an arena whose first block is on the stack, so small calls do not touch
// the heap for message objects.
template <typename Req, typename Resp, typename S, typename Base>
absl::Status RunUnary(S* service, absl::Status (Base::*handler)(ServerContext&, const Req&, Resp*),
                      ServerContext& ctx, absl::string_view request, std::string* response) {
  alignas(8) char initial_block[2048];
  google::protobuf::ArenaOptions opts;
  opts.initial_block = initial_block;
  opts.initial_block_size = sizeof(initial_block);
  google::protobuf::Arena arena(opts);
  Req* req = google::protobuf::Arena::CreateMessage<Req>(&arena);
  if (!req->ParseFromArray(request.data(), static_cast<int>(request.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode ", req->GetTypeName(), " request for ", ctx.method()));
  }
  Resp* resp = google::protobuf::Arena::CreateMessage<Resp>(&arena);
  absl::Status status = (service->*handler)(ctx, *req, resp);
  if (!status.ok()) return status;
  if (!SerializeWithSize(*resp, MessageSize(*resp), response)) {
    return absl::InternalError(absl::StrCat("cannot encode ", resp->GetTypeName(), " reply for ",
                                            ctx.method()));
  }
  return absl::OkStatus();
}

inline absl::Status NoSuchMethod(int method_index) {
  return absl::UnimplementedError(absl::StrCat("no method with index ", method_index));
}

}  // namespace internal
}  // namespace ferry

#endif  // FERRY_RUNTIME_SERVICE_H_
