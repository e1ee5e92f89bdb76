#include "runtime/context.h"

#include <thread>

#include "runtime/barrier.h"

namespace ferry {

// The handshakes (LightBarrier on the call's side, HeavyBarrier on Cancel's):
//   Bind:   owner_ = owner;     light; read cancelled_  (set: fail the call)
//   Unbind: owner_ = nullptr;   light; read canceller_  (set: wait until it clears)
//   Cancel: cancelled_ = true; canceller_ = &token; heavy; read owner_ (set: CancelCall)
// Each pair of (store; barrier; load) sees at least one of the two stores, so either
// Cancel() sees the owner and the call (or Unbind) sees Cancel, or the other way round.

struct ClientContext::CancelToken {
  // Set by an Unbind() that ran on Cancel()'s own thread, inside CancelCall (an async
  // call completing with its callback, which may free the context): Cancel must then not
  // touch the context again.
  bool unbound_inside = false;
};

// Lets Unbind() tell "inside my own Cancel()" from "another thread's Cancel()" without
// touching another thread's stack.
thread_local ClientContext::CancelToken* ClientContext::this_thread_cancel_ = nullptr;

void ClientContext::Cancel() {
  // Only the first Cancel() does anything (a locked exchange: Cancel is rare).
  if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
  CancelToken token;
  CancelToken* const outer = this_thread_cancel_;
  this_thread_cancel_ = &token;
  canceller_.store(&token, std::memory_order_relaxed);
  internal::HeavyBarrier();
  internal::CallCanceller* owner = owner_.load(std::memory_order_acquire);
  if (owner != nullptr) owner->CancelCall(call_id_.load(std::memory_order_relaxed));
  this_thread_cancel_ = outer;
  // The last touch of the context; after it a waiting Unbind() returns.
  if (!token.unbound_inside) canceller_.store(nullptr, std::memory_order_release);
}

bool ClientContext::Bind(internal::CallCanceller* owner, uint32_t call_id) {
  call_id_.store(call_id, std::memory_order_relaxed);
  owner_.store(owner, std::memory_order_release);
  internal::LightBarrier();
  if (cancelled_.load(std::memory_order_relaxed)) {
    // Not Unbind(): the owner calls Bind with its lock held, which a Cancel() inside
    // CancelCall may be waiting for. The caller unbinds once it has let go of the lock.
    owner_.store(nullptr, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void ClientContext::Unbind() {
  owner_.store(nullptr, std::memory_order_relaxed);
  internal::LightBarrier();
  CancelToken* token = canceller_.load(std::memory_order_acquire);
  if (token == nullptr) return;
  if (token == this_thread_cancel_) {
    // Inside this thread's own Cancel(): nothing to wait for, and the context may be
    // freed once we return.
    token->unbound_inside = true;
    canceller_.store(nullptr, std::memory_order_relaxed);
    return;
  }
  // Another thread's Cancel() may be calling into the owner: wait until it is out (a
  // call racing with its own cancellation; rare, and short).
  while (canceller_.load(std::memory_order_acquire) != nullptr) std::this_thread::yield();
}

absl::string_view ServerContext::FindMetadata(absl::string_view key) const {
  if (metadata_ == nullptr) return {};
  for (const auto& [k, v] : *metadata_) {
    if (k == key) return v;
  }
  return {};
}

}  // namespace ferry
