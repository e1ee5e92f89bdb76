// The raw shared-memory ring: the shm transport's rings, set-up and wake-ups with nothing
// of Ferry on top (no frames, no runtime). Benchmarks use it as the floor that
// Ferry-over-shm is measured against, in the same run.
//
// Overview: the same address syntax and options as ShmTransport ("shm://name?wake=spin",
// see shm_transport.h), the same rendezvous and segment, the same Link. A message is an
// 8-byte header (u32 length, u32 tag, host byte order) followed by the payload, streamed
// through the ring exactly as ShmConnection streams Ferry frames: a message that fits in
// the ring is written and published in one go (waiting for room first); a larger one is
// published in pieces as room frees up. Receive() copies the payload out into the
// caller's string (reusing its capacity), which is what an application reading messages
// off a ring would do; Ferry's zero-copy receive path is therefore not in the floor.
//
// Threading: one thread may Send() and one thread may Receive() at a time on an endpoint;
// Shutdown() from any thread. Destroy an endpoint only when no call is in flight.
// Errors: UNAVAILABLE (peer gone, refused, or Shutdown()), DEADLINE_EXCEEDED,
// RESOURCE_EXHAUSTED (a message above kMaxRawMessage), INVALID_ARGUMENT (a corrupt peer).
//
// Example (two processes; the benchmark driver's raw floor for "shm"):
//   // server process:
//   auto server = ferry::shm::RawShmEchoServer::Start("shm://bench-raw?wake=spin");
//   // client process:
//   auto client = ferry::shm::RawShmConnect("shm://bench-raw?wake=spin",
//                                           absl::Now() + absl::Seconds(5));
//   std::string reply;
//   absl::Status s = (*client)->RoundTrip(std::string(64, 'x'), &reply);
#ifndef FERRY_TRANSPORTS_SHM_RAW_SHM_H_
#define FERRY_TRANSPORTS_SHM_RAW_SHM_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transports/shm/shm_link.h"
#include "transports/stream/fd.h"

namespace ferry::shm {

inline constexpr uint32_t kMaxRawMessage = 64u << 20;

class RawShmEndpoint {
 public:
  explicit RawShmEndpoint(Endpoint endpoint);
  // Shuts down, then unmaps. No call may be in flight.
  ~RawShmEndpoint();
  RawShmEndpoint(const RawShmEndpoint&) = delete;
  RawShmEndpoint& operator=(const RawShmEndpoint&) = delete;

  // Sends one message. `payload` is borrowed for the call only.
  absl::Status Send(uint32_t tag, absl::string_view payload,
                    absl::Time deadline = absl::InfiniteFuture());
  // Receives the next whole message into *payload (its capacity is reused, so a steady
  // stream of equal sizes does not allocate) and returns its tag. A deadline that passes
  // mid-message leaves the endpoint unusable (this is a benchmark tool, not a transport).
  absl::StatusOr<uint32_t> Receive(std::string* payload,
                                   absl::Time deadline = absl::InfiniteFuture());
  // Send(0, payload) then Receive(reply): one round trip to an echo server.
  absl::Status RoundTrip(absl::string_view payload, std::string* reply,
                         absl::Time deadline = absl::InfiniteFuture());
  // Wakes blocked calls here (UNAVAILABLE) and makes the peer's fail. Idempotent.
  void Shutdown() { link_->Shutdown(); }
  // "shm://name pid=.. uid=.. backing=.. wake=.. ring=..".
  const std::string& description() const { return link_->endpoint().description; }

 private:
  absl::Status Failure(Link::Io io);

  std::unique_ptr<Link> link_;
};

// Connects to a RawShmListener (or RawShmEchoServer) at `address`.
absl::StatusOr<std::unique_ptr<RawShmEndpoint>> RawShmConnect(const std::string& address,
                                                              absl::Time deadline);

class RawShmListener {
 public:
  // Binds the rendezvous for `address` ("shm://name?options"). ALREADY_EXISTS if taken.
  static absl::StatusOr<std::unique_ptr<RawShmListener>> Listen(const std::string& address);
  ~RawShmListener();  // closes

  // Blocks for the next client (refused ones are skipped). UNAVAILABLE after Close().
  absl::StatusOr<std::unique_ptr<RawShmEndpoint>> Accept();
  // Idempotent; wakes Accept().
  void Close();
  const std::string& address() const { return address_; }

 private:
  RawShmListener(UniqueFd fd, std::string address, std::string name, ShmOptions options);

  UniqueFd fd_;
  const std::string address_;
  const std::string name_;
  const ShmOptions options_;
  CloseGate gate_;
};

// Echoes every message back with its tag, one thread per connection, until Shutdown().
class RawShmEchoServer {
 public:
  static absl::StatusOr<std::unique_ptr<RawShmEchoServer>> Start(const std::string& address);
  ~RawShmEchoServer();  // Shutdown()
  // Stops accepting, shuts every connection down, joins the threads. Idempotent.
  void Shutdown();
  const std::string& address() const { return listener_->address(); }

 private:
  explicit RawShmEchoServer(std::unique_ptr<RawShmListener> listener);
  void AcceptLoop();

  std::unique_ptr<RawShmListener> listener_;
  std::thread accept_thread_;
  std::mutex mu_;
  bool stopped_ = false;
  std::vector<std::unique_ptr<RawShmEndpoint>> endpoints_;  // guarded by mu_
  std::vector<std::thread> threads_;                        // guarded by mu_
};

}  // namespace ferry::shm

#endif  // FERRY_TRANSPORTS_SHM_RAW_SHM_H_
