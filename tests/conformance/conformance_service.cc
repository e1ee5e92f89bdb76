#include "tests/conformance/conformance_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ferry::conformance {

absl::Status ConformanceService::Echo(ServerContext& ctx, const EchoRequest& request,
                                      EchoReply* reply) {
  // A hostile reply_size (up to 2^64) must not make the server allocate it: anything far
  // beyond every message limit is refused here (//fuzz:server_dispatch_fuzzer sends such).
  constexpr uint64_t kMaxReplySize = uint64_t{64} << 20;
  if (request.reply_size() > kMaxReplySize) {
    return absl::ResourceExhaustedError(
        absl::StrCat("reply_size ", request.reply_size(), " is over ", kMaxReplySize));
  }
  if (request.reply_size() > 0) {
    reply->mutable_payload()->assign(request.reply_size(), 'r');
  } else {
    *reply->mutable_payload() = request.payload();
  }
  // Only on request, so that an echo's reply is exactly as large as its request.
  absl::string_view echo = ctx.FindMetadata("x-echo");
  if (!echo.empty()) {
    reply->set_echoed_metadata(std::string(echo));
    ctx.AddTrailingMetadata("x-echo-trailer", std::string(echo));
    reply->set_budget_ms(ctx.deadline() == absl::InfiniteFuture()
                             ? -1
                             : absl::ToInt64Milliseconds(ctx.deadline() - absl::Now()));
  }
  return absl::OkStatus();
}

absl::Status ConformanceService::Sleep(ServerContext& ctx, const SleepRequest& request,
                                       SleepReply* reply) {
  {
    absl::MutexLock lock(&mu_);
    ++sleeping_;
  }
  const absl::Time end = absl::Now() + absl::Milliseconds(request.ms());
  bool cancelled = false;
  while (absl::Now() < end) {
    if (ctx.IsCancelled()) {
      cancelled = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  absl::MutexLock lock(&mu_);
  --sleeping_;
  if (!request.tag().empty()) outcomes_[request.tag()] = cancelled;
  reply->set_cancelled(cancelled);
  return absl::OkStatus();
}

absl::Status ConformanceService::Fail(ServerContext&, const FailRequest& request, FailReply*) {
  return absl::Status(static_cast<absl::StatusCode>(request.code()), request.message());
}

std::optional<bool> ConformanceService::SleepOutcome(const std::string& tag,
                                                     absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto it = outcomes_.find(tag);
      if (it != outcomes_.end()) return it->second;
    }
    if (absl::Now() >= give_up) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

int ConformanceService::sleeping() {
  absl::MutexLock lock(&mu_);
  return sleeping_;
}

}  // namespace ferry::conformance
