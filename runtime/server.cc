#include "runtime/server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/server_connection.h"
#include "runtime/server_impl.h"

namespace ferry {

// ---- ServerImpl --------------------------------------------------------------------------

ServerImpl::ServerImpl(const ServerOptions& options,
                       std::shared_ptr<const TransportRegistry> transports,
                       absl::flat_hash_map<std::string, MethodEntry> methods,
                       std::vector<std::unique_ptr<Listener>> listeners)
    : options_(options),
      transports_(std::move(transports)),
      methods_(std::move(methods)),
      listeners_(std::move(listeners)) {
  for (const auto& l : listeners_) addresses_.push_back(l->address());
  int threads = options_.pool_threads;
  if (threads <= 0) {
    threads = std::max(4, 2 * static_cast<int>(std::thread::hardware_concurrency()));
  }
  pool_ = std::make_unique<WorkerPool>(threads);
}

ServerImpl::~ServerImpl() { Shutdown(absl::Now()); }

void ServerImpl::Start() {
  for (const auto& l : listeners_) {
    accept_threads_.emplace_back(&ServerImpl::AcceptLoop, this, l.get());
  }
}

std::vector<std::string> ServerImpl::addresses() const { return addresses_; }

void ServerImpl::AcceptLoop(Listener* listener) {
  for (;;) {
    absl::StatusOr<std::unique_ptr<Connection>> conn = listener->Accept();
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      if (conn.ok()) (*conn)->Close();
      return;
    }
    if (!conn.ok()) {
      if (conn.status().code() == absl::StatusCode::kUnavailable) return;  // listener closed
      // Out of descriptors or memory: back off instead of spinning, keep serving others.
      mu_.Unlock();
      absl::SleepFor(absl::Milliseconds(50));
      mu_.Lock();
      continue;
    }
    ReapLocked();
    connections_.push_back(std::make_unique<ServerConnection>(this, *std::move(conn)));
    connections_.back()->Start();
  }
}

void ServerImpl::ReapLocked() {
  auto done = std::partition(connections_.begin(), connections_.end(),
                             [](const std::unique_ptr<ServerConnection>& c) { return !c->finished(); });
  connections_.erase(done, connections_.end());  // destructors join finished reader threads
}

void ServerImpl::Shutdown(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      mu_.Await(absl::Condition(&shutdown_done_));
      return;
    }
    shutting_down_ = true;
  }
  // 1. No new connections: closing the listeners wakes Accept() and removes socket files.
  for (const auto& l : listeners_) l->Close();
  for (std::thread& t : accept_threads_) t.join();
  accept_threads_.clear();

  // 2. No new calls; let the ones in flight finish until the deadline.
  std::vector<ServerConnection*> conns;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& c : connections_) conns.push_back(c.get());
  }
  for (ServerConnection* c : conns) c->GoAway();
  // Polled: shutdown is rare, and a wake-up per finished call would tax every call. The
  // inline flags first: a call moving to the pool is counted before its flag clears.
  auto busy = [&conns, this] {
    for (ServerConnection* c : conns) {
      if (c->inline_busy()) return true;
    }
    return active_calls_.load(std::memory_order_acquire) > 0;
  };
  while (busy() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));

  // 3. Cancel what is left, close every connection, wait for every handler.
  for (ServerConnection* c : conns) c->CancelAll(absl::UnavailableError("server shut down"));
  for (ServerConnection* c : conns) c->Close();
  std::vector<std::unique_ptr<ServerConnection>> all;
  {
    absl::MutexLock lock(&mu_);
    all.swap(connections_);
  }
  all.clear();  // joins reader threads, each of which waits for its pool handlers
  pool_.reset();

  absl::MutexLock lock(&mu_);
  shutdown_done_ = true;
}

void ServerImpl::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&shutdown_done_));
}

// ---- Server ------------------------------------------------------------------------------

Server::Server(std::unique_ptr<ServerImpl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;  // ~ServerImpl shuts down if nobody did
std::vector<std::string> Server::addresses() const { return impl_->addresses(); }
void Server::Shutdown(absl::Time deadline) { impl_->Shutdown(deadline); }
void Server::Wait() { impl_->Wait(); }

// ---- ServerBuilder -----------------------------------------------------------------------

ServerBuilder::ServerBuilder(std::shared_ptr<const TransportRegistry> transports)
    : transports_(std::move(transports)) {}

ServerBuilder& ServerBuilder::AddListeningAddress(std::string address) {
  addresses_.push_back(std::move(address));
  return *this;
}

ServerBuilder& ServerBuilder::RegisterService(Service* service, HandlerThread thread) {
  services_.emplace_back(service, thread);
  return *this;
}

ServerBuilder& ServerBuilder::SetMethodThread(std::string method_path, HandlerThread thread) {
  method_threads_.emplace_back(std::move(method_path), thread);
  return *this;
}

ServerBuilder& ServerBuilder::SetOptions(const ServerOptions& options) {
  options_ = options;
  return *this;
}

absl::StatusOr<std::unique_ptr<Server>> ServerBuilder::BuildAndStart() {
  if (transports_ == nullptr) return absl::InvalidArgumentError("no transport registry given");
  if (addresses_.empty()) return absl::InvalidArgumentError("no listening address given");

  absl::flat_hash_map<std::string, MethodEntry> methods;
  for (const auto& [service, thread] : services_) {
    if (service == nullptr) return absl::InvalidArgumentError("null service registered");
    const ServiceDescriptor& d = service->ferry_descriptor();
    for (int i = 0; i < static_cast<int>(d.methods.size()); ++i) {
      const MethodDescriptor& m = d.methods[i];
      auto [it, inserted] =
          methods.try_emplace(std::string(m.path), MethodEntry{service, i, m.kind, thread});
      if (!inserted) {
        return absl::InvalidArgumentError(
            absl::StrCat("method ", m.path, " is registered by two services"));
      }
    }
  }
  for (const auto& [path, thread] : method_threads_) {
    auto it = methods.find(path);
    if (it == methods.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("SetMethodThread for ", path, ", which no registered service has"));
    }
    it->second.thread = thread;
  }

  ConnectionLimits limits;
  limits.max_frame_payload = std::max(options_.max_receive_message_size, kMaxControlPayload);
  std::vector<std::unique_ptr<Listener>> listeners;
  // On any failure the listeners made so far are closed by their destructors (via Close).
  auto close_all = [&listeners] {
    for (auto& l : listeners) l->Close();
  };
  for (const std::string& address : addresses_) {
    absl::StatusOr<Address> parsed = Address::Parse(address);
    if (!parsed.ok()) {
      close_all();
      return parsed.status();
    }
    Transport* transport = transports_->Find(parsed->scheme);
    if (transport == nullptr) {
      close_all();
      return absl::InvalidArgumentError(
          absl::StrCat("no transport for \"", parsed->scheme, ":\" addresses (known: ",
                       absl::StrJoin(transports_->schemes(), ", "), ")"));
    }
    absl::StatusOr<std::unique_ptr<Listener>> l = transport->Listen(*parsed, limits);
    if (!l.ok()) {
      close_all();
      return absl::Status(l.status().code(),
                          absl::StrCat("cannot listen on ", address, ": ", l.status().message()));
    }
    listeners.push_back(*std::move(l));
  }
  auto impl = std::make_unique<ServerImpl>(options_, transports_, std::move(methods),
                                           std::move(listeners));
  impl->Start();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace ferry
