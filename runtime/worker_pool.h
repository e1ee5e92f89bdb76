// A fixed pool of threads running submitted tasks in FIFO order. Idle workers block on a
// condition variable and use no CPU. Internal to the runtime.
#ifndef FERRY_RUNTIME_WORKER_POOL_H_
#define FERRY_RUNTIME_WORKER_POOL_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"

namespace ferry {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  // Runs the tasks already queued, then joins the workers.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Thread-safe. Tasks submitted after destruction began are run by the submitter.
  void Submit(absl::AnyInvocable<void() &&> task);

 private:
  void Work();

  // std::mutex and std::condition_variable, as on the runtime's other per-call paths:
  // Debian's absl::Mutex runs deadlock detection on every lock, and its Await() evaluates a
  // waiter's Condition (on the waiter's stack) in the unlocking thread, which ThreadSanitizer
  // cannot see ordered in the uninstrumented library (a false race report in the TSan stage).
  std::mutex mu_;
  std::condition_variable wake_;  // a task was queued, or stopping_ was set
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace ferry

#endif  // FERRY_RUNTIME_WORKER_POOL_H_
