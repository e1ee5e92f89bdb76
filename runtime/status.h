// Status helpers shared by the runtime and every transport.
//
// Overview: Ferry reports every failure as an absl::Status with gRPC's canonical
// meanings (dead peer -> UNAVAILABLE, too large or full -> RESOURCE_EXHAUSTED, timeout ->
// DEADLINE_EXCEEDED, malformed input -> INVALID_ARGUMENT). This header holds the one
// place where errno becomes a Status, and the system-call wrapper that retries EINTR.
//
// Example:
//   absl::StatusOr<int> fd = ferry::Syscall("socket", [&] { return ::socket(AF_UNIX, SOCK_STREAM, 0); });
//   if (!fd.ok()) return fd.status();   // "socket: Too many open files" (RESOURCE_EXHAUSTED)
#ifndef FERRY_RUNTIME_STATUS_H_
#define FERRY_RUNTIME_STATUS_H_

#include <cerrno>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry {

// Maps an errno value to the canonical code a caller should act on:
// ECONNRESET/EPIPE/ECONNREFUSED/ENOTCONN/ENOENT(on connect) -> UNAVAILABLE, EAGAIN/ETIMEDOUT ->
// DEADLINE_EXCEEDED, ENOMEM/EMFILE/ENFILE/ENOSPC/EMSGSIZE -> RESOURCE_EXHAUSTED,
// EACCES/EPERM -> PERMISSION_DENIED, EADDRINUSE/EEXIST -> ALREADY_EXISTS,
// EINVAL -> INVALID_ARGUMENT, otherwise INTERNAL.
absl::StatusCode ErrnoToCode(int err);

// A Status whose message names the failing call and the errno text, e.g.
// "connect(unix:/tmp/x.sock): Connection refused".
absl::Status ErrnoStatus(absl::string_view what, int err);

// Runs `fn` (a system call returning -1 and setting errno on failure), retrying on EINTR.
// Returns its non-negative result, or ErrnoStatus(what, errno).
template <typename Fn>
auto Syscall(absl::string_view what, Fn&& fn) -> absl::StatusOr<decltype(fn())> {
  static_assert(std::is_integral<decltype(fn())>::value, "Syscall wraps calls returning an integer");
  for (;;) {
    auto r = fn();
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    return ErrnoStatus(what, errno);
  }
}

}  // namespace ferry

#endif  // FERRY_RUNTIME_STATUS_H_
