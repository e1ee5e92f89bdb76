// Server: serves registered services on one or more addresses at once.
//
// Overview: a ServerBuilder collects addresses ("unix:/tmp/kv.sock", "tcp://0.0.0.0:0"),
// services and options, then BuildAndStart() binds every address and starts serving.
// Each connection has one reader thread. A handler runs either on that reader thread
// (HandlerThread::kInline: no thread hop, the fastest path, for handlers that do not
// block) or on the server's worker pool (HandlerThread::kPool: for handlers that block
// or run long, so other calls on the same connection keep flowing). The choice is made
// per service and may be overridden per method.
//
// Status codes follow gRPC: unknown method -> UNIMPLEMENTED; request that does not decode
// -> INVALID_ARGUMENT; request or reply over the limit -> RESOURCE_EXHAUSTED; the
// handler's own status is returned verbatim with its message.
//
// Example:
//   KvServiceImpl impl;
//   auto server = ferry::ServerBuilder(ferry::DefaultTransports())
//                     .AddListeningAddress("unix:/tmp/kv.sock")
//                     .AddListeningAddress("tcp://127.0.0.1:0")
//                     .RegisterService(&impl, ferry::HandlerThread::kInline)
//                     .BuildAndStart();
//   if (!server.ok()) return server.status();
//   std::cout << (*server)->addresses()[1];   // "tcp://127.0.0.1:41234"
//   (*server)->Wait();
#ifndef FERRY_RUNTIME_SERVER_H_
#define FERRY_RUNTIME_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/frame.h"
#include "runtime/service.h"
#include "transports/transport.h"

namespace ferry {

enum class HandlerThread : unsigned char {
  kInline,  // on the connection's reader thread
  kPool,    // on the server's worker pool
};

struct ServerOptions {
  uint32_t max_receive_message_size = kDefaultMaxMessageSize;
  uint32_t max_send_message_size = kDefaultMaxMessageSize;
  // Worker threads for kPool handlers; 0 means max(4, 2 * hardware threads).
  int pool_threads = 0;
};

class ServerImpl;  // runtime/server.cc

class Server {
 public:
  // Same as Shutdown(absl::Now()) if the server is still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound addresses, in the order they were added, with port 0 resolved.
  std::vector<std::string> addresses() const;

  // Graceful shutdown: stops accepting connections and calls (new calls get UNAVAILABLE,
  // clients get GOAWAY), lets calls in flight finish until `deadline`, then cancels the
  // rest (their handlers see IsCancelled()), closes every connection and removes socket
  // files. Returns when all handlers have returned. Idempotent; thread-safe.
  void Shutdown(absl::Time deadline);

  // Blocks until Shutdown() has completed (called from another thread).
  void Wait();

 private:
  friend class ServerBuilder;
  explicit Server(std::unique_ptr<ServerImpl> impl);
  std::unique_ptr<ServerImpl> impl_;
};

class ServerBuilder {
 public:
  explicit ServerBuilder(std::shared_ptr<const TransportRegistry> transports);
  ServerBuilder& AddListeningAddress(std::string address);
  // The service is not owned and must outlive the server.
  ServerBuilder& RegisterService(Service* service, HandlerThread thread = HandlerThread::kPool);
  // Overrides the service's choice for one method ("/package.Service/Method").
  ServerBuilder& SetMethodThread(std::string method_path, HandlerThread thread);
  ServerBuilder& SetOptions(const ServerOptions& options);

  // Binds every address and starts serving. Errors: INVALID_ARGUMENT (bad address,
  // unknown scheme, no address, duplicate method path, override for an unknown method),
  // ALREADY_EXISTS (address held by a live server), and the transport's Listen errors.
  // On error nothing stays bound.
  absl::StatusOr<std::unique_ptr<Server>> BuildAndStart();

 private:
  std::shared_ptr<const TransportRegistry> transports_;
  std::vector<std::string> addresses_;
  std::vector<std::pair<Service*, HandlerThread>> services_;
  std::vector<std::pair<std::string, HandlerThread>> method_threads_;
  ServerOptions options_;
};

}  // namespace ferry

#endif  // FERRY_RUNTIME_SERVER_H_
