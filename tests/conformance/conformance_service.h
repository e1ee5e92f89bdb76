// The Conformance service: see conformance.proto. Thread-safe.
#ifndef FERRY_TESTS_CONFORMANCE_CONFORMANCE_SERVICE_H_
#define FERRY_TESTS_CONFORMANCE_CONFORMANCE_SERVICE_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/conformance/conformance.ferry.h"

namespace ferry::conformance {

class ConformanceService final : public Conformance::Service {
 public:
  absl::Status Echo(ServerContext& ctx, const EchoRequest& request, EchoReply* reply) override;
  // Sleeps until `ms` pass or the call is cancelled; records which it was under `tag`.
  absl::Status Sleep(ServerContext& ctx, const SleepRequest& request, SleepReply* reply) override;
  absl::Status Fail(ServerContext& ctx, const FailRequest& request, FailReply* reply) override;

  // Waits up to `timeout` for the Sleep call tagged `tag` to end; returns whether its
  // handler saw the call cancelled, or nullopt if it has not ended.
  std::optional<bool> SleepOutcome(const std::string& tag, absl::Duration timeout);
  // Number of Sleep handlers running now.
  int sleeping();

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, bool> outcomes_ ABSL_GUARDED_BY(mu_);
  int sleeping_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ferry::conformance

#endif  // FERRY_TESTS_CONFORMANCE_CONFORMANCE_SERVICE_H_
