#include "examples/kv/kv_service.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace ferry {
namespace examples {
namespace kv {
namespace {

// Keys come from clients and end up in error messages and logs, so they are quoted and
// escaped there; a long key is cut so one bad request cannot produce a megabyte message.
std::string Quote(absl::string_view key) {
  constexpr size_t kShown = 64;
  if (key.size() <= kShown) return absl::StrCat("\"", absl::CHexEscape(key), "\"");
  return absl::StrCat("\"", absl::CHexEscape(key.substr(0, kShown)), "\"... (", key.size(),
                      " bytes)");
}

absl::Status CheckKey(absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("key must not be empty");
  if (key.size() > KeyValueService::kMaxKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("key ", Quote(key), " is longer than ",
                                                   KeyValueService::kMaxKeySize, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status KeyNotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("key ", Quote(key), " not found"));
}

}  // namespace

absl::Status KeyValueService::Put(ServerContext& /*ctx*/, const PutRequest& request,
                                  PutReply* reply) {
  if (absl::Status status = CheckKey(request.key()); !status.ok()) return status;
  if (request.value().size() > kMaxValueSize) {
    return absl::InvalidArgumentError(absl::StrCat("value for key ", Quote(request.key()),
                                                   " is ", request.value().size(),
                                                   " bytes, more than ", kMaxValueSize));
  }
  // The copies are made before taking the lock so the critical section stays a map
  // lookup; a megabyte memcpy under the lock would stall every other caller.
  std::string key = request.key();
  std::string value = request.value();
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.try_emplace(std::move(key), std::move(value));
  if (!inserted) it->second = std::move(value);
  reply->set_replaced(!inserted);
  return absl::OkStatus();
}

absl::Status KeyValueService::Get(ServerContext& /*ctx*/, const GetRequest& request,
                                  GetReply* reply) {
  if (absl::Status status = CheckKey(request.key()); !status.ok()) return status;
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(request.key());
  if (it == entries_.end()) return KeyNotFound(request.key());
  reply->set_value(it->second);
  return absl::OkStatus();
}

absl::Status KeyValueService::Delete(ServerContext& /*ctx*/, const DeleteRequest& request,
                                     google::protobuf::Empty* /*reply*/) {
  if (absl::Status status = CheckKey(request.key()); !status.ok()) return status;
  absl::MutexLock lock(&mu_);
  if (entries_.erase(request.key()) == 0) return KeyNotFound(request.key());
  return absl::OkStatus();
}

absl::Status KeyValueService::List(ServerContext& /*ctx*/, const ListRequest& request,
                                   ListReply* reply) {
  const uint32_t limit = request.limit() == 0 || request.limit() > kMaxListEntries
                             ? kMaxListEntries
                             : request.limit();
  const std::string& prefix = request.prefix();
  size_t bytes = 0;
  absl::MutexLock lock(&mu_);
  // Keys sharing a prefix are contiguous in an ordered map: start at the first key not
  // below both the prefix and start_after, stop at the first key without the prefix.
  auto it = request.start_after().empty() || request.start_after() < prefix
                ? entries_.lower_bound(prefix)
                : entries_.upper_bound(request.start_after());
  for (; it != entries_.end() && absl::StartsWith(it->first, prefix); ++it) {
    const size_t size = it->first.size() + it->second.size();
    if (reply->entries_size() == static_cast<int>(limit) ||
        (reply->entries_size() > 0 && bytes + size > kListReplyBudget)) {
      reply->set_truncated(true);
      break;
    }
    bytes += size;
    Entry* entry = reply->add_entries();
    entry->set_key(it->first);
    entry->set_value(it->second);
  }
  return absl::OkStatus();
}

}  // namespace kv
}  // namespace examples
}  // namespace ferry
