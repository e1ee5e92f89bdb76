#include "bench/peer.h"

#include <sys/resource.h>

#include "absl/strings/str_cat.h"

namespace ferry::bench {

absl::string_view ImplName(Impl impl) {
  switch (impl) {
    case Impl::kFerry:
      return "ferry";
    case Impl::kRaw:
      return "raw";
    case Impl::kRawProtobuf:
      return "rawpb";
    case Impl::kGrpc:
      return "grpc";
  }
  return "?";
}

absl::StatusOr<Impl> ParseImpl(absl::string_view name) {
  for (Impl impl : kAllImpls) {
    if (ImplName(impl) == name) return impl;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown implementation \"", name, "\" (known: ferry, raw, rawpb, grpc)"));
}

CpuTimes ProcessCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  CpuTimes t;
  t.user_s = static_cast<double>(u.ru_utime.tv_sec) + u.ru_utime.tv_usec / 1e6;
  t.system_s = static_cast<double>(u.ru_stime.tv_sec) + u.ru_stime.tv_usec / 1e6;
  return t;
}

std::string MakePayload(uint64_t size) {
  std::string payload(size, '\0');
  for (uint64_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
  return payload;
}

}  // namespace ferry::bench
