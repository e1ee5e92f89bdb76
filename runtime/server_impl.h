// Server internals: the method table, listeners, connections and the drain logic behind
// ferry::Server. Internal to the runtime.
#ifndef FERRY_RUNTIME_SERVER_IMPL_H_
#define FERRY_RUNTIME_SERVER_IMPL_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/server.h"
#include "runtime/service.h"
#include "runtime/worker_pool.h"
#include "transports/transport.h"

namespace ferry {

class ServerConnection;

struct MethodEntry {
  Service* service;
  int index;  // into service->ferry_descriptor().methods
  MethodKind kind;
  HandlerThread thread;
};

class ServerImpl {
 public:
  ServerImpl(const ServerOptions& options, std::shared_ptr<const TransportRegistry> transports,
             absl::flat_hash_map<std::string, MethodEntry> methods,
             std::vector<std::unique_ptr<Listener>> listeners);
  ~ServerImpl();

  void Start();
  std::vector<std::string> addresses() const;
  void Shutdown(absl::Time deadline);
  void Wait();

  // Called by connections.
  const MethodEntry* FindMethod(absl::string_view path) const {
    auto it = methods_.find(path);
    return it == methods_.end() ? nullptr : &it->second;
  }
  const ServerOptions& options() const { return options_; }
  WorkerPool& pool() { return *pool_; }
  // Counts handlers that have been admitted and not yet finished, for the drain.
  void CallStarted() { active_calls_.fetch_add(1, std::memory_order_relaxed); }
  void CallFinished() { active_calls_.fetch_sub(1, std::memory_order_release); }

 private:
  void AcceptLoop(Listener* listener);
  // Joins and frees connections whose peer has gone. Called with mu_ held.
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServerOptions options_;
  // Listeners and connections point into their transports: keep them alive until the end.
  const std::shared_ptr<const TransportRegistry> transports_;
  const absl::flat_hash_map<std::string, MethodEntry> methods_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::string> addresses_;
  std::unique_ptr<WorkerPool> pool_;
  std::vector<std::thread> accept_threads_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<ServerConnection>> connections_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(mu_) = false;
  // Atomic, not under mu_: it changes twice per call, and only the drain reads it.
  std::atomic<int> active_calls_{0};
};

}  // namespace ferry

#endif  // FERRY_RUNTIME_SERVER_IMPL_H_
