#include "runtime/context.h"

namespace ferry {

void ClientContext::Cancel() {
  std::shared_ptr<internal::CallCanceller> owner;
  uint32_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_.store(true, std::memory_order_release);
    owner = owner_;
    id = call_id_;
  }
  if (owner != nullptr) owner->CancelCall(id);
}

bool ClientContext::Bind(std::shared_ptr<internal::CallCanceller> owner, uint32_t call_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_.load(std::memory_order_acquire)) return false;
  owner_ = std::move(owner);
  call_id_ = call_id;
  return true;
}

void ClientContext::Unbind() {
  std::shared_ptr<internal::CallCanceller> owner;
  std::lock_guard<std::mutex> lock(mu_);
  owner.swap(owner_);  // released after mu_, in case it is the last reference
  call_id_ = 0;
}

absl::string_view ServerContext::FindMetadata(absl::string_view key) const {
  if (metadata_ == nullptr) return {};
  for (const auto& [k, v] : *metadata_) {
    if (k == key) return v;
  }
  return {};
}

}  // namespace ferry
