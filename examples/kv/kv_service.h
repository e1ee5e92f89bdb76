// KeyValueService: the KeyValue service of kv.proto, an in-memory ordered map.
//
// Overview: one map behind one mutex. Every handler holds the lock only to copy in or out,
// never while waiting on anything, so the service may be registered with
// ferry::HandlerThread::kInline (handlers run on the connection's reader thread).
// Errors and limits are documented in kv.proto.
//
// Threading: all handlers are thread-safe. Lifetime: must outlive the server it is
// registered with.
//
// Example:
//   ferry::examples::kv::KeyValueService service;
//   auto server = ferry::ServerBuilder(ferry::DefaultTransports())
//                     .AddListeningAddress("unix:/tmp/kv.sock")
//                     .RegisterService(&service, ferry::HandlerThread::kInline)
//                     .BuildAndStart();
#ifndef FERRY_EXAMPLES_KV_KV_SERVICE_H_
#define FERRY_EXAMPLES_KV_KV_SERVICE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "examples/kv/kv.ferry.h"
#include "examples/kv/kv.pb.h"
#include "google/protobuf/empty.pb.h"
#include "runtime/context.h"

namespace ferry {
namespace examples {
namespace kv {

class KeyValueService final : public KeyValue::Service {
 public:
  static constexpr size_t kMaxKeySize = 1024;
  static constexpr size_t kMaxValueSize = 1 << 20;
  static constexpr uint32_t kMaxListEntries = 1000;
  // A List reply stops before this many key and value bytes, but always holds at least
  // one entry, so with the limits above a reply stays well under Ferry's 4 MiB default.
  static constexpr size_t kListReplyBudget = 2 << 20;

  absl::Status Put(ServerContext& ctx, const PutRequest& request, PutReply* reply) override;
  absl::Status Get(ServerContext& ctx, const GetRequest& request, GetReply* reply) override;
  absl::Status Delete(ServerContext& ctx, const DeleteRequest& request,
                      google::protobuf::Empty* reply) override;
  absl::Status List(ServerContext& ctx, const ListRequest& request, ListReply* reply) override;

 private:
  absl::Mutex mu_;
  absl::btree_map<std::string, std::string> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kv
}  // namespace examples
}  // namespace ferry

#endif  // FERRY_EXAMPLES_KV_KV_SERVICE_H_
