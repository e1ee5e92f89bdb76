#include "bench/raw_peer.h"

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/raw_pipe_mechanism.h"
#include "proto/bench.pb.h"

namespace ferry::bench {
namespace {

constexpr absl::Duration kConnectTimeout = absl::Seconds(10);

void PutU64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetU64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string EncodeCpu(const CpuTimes& t) {
  std::string out(16, '\0');
  PutU64(static_cast<uint64_t>(t.user_s * 1e6), &out[0]);
  PutU64(static_cast<uint64_t>(t.system_s * 1e6), &out[8]);
  return out;
}

// Answers until the endpoint fails (peer gone or Shutdown()) or, with
// RawWork::kProtobuf, a request does not parse.
void EchoLoop(RawEndpoint* endpoint, RawWork work) {
  std::string buf, out;
  EchoRequest request;
  EchoReply reply;
  while (true) {
    absl::StatusOr<RawKind> kind = endpoint->Receive(&buf);
    if (!kind.ok()) return;
    absl::Status sent;
    if (*kind == RawKind::kCpuRequest) {
      sent = endpoint->Send(RawKind::kEcho, EncodeCpu(ProcessCpu()));
    } else if (work == RawWork::kEcho) {
      sent = endpoint->Send(RawKind::kEcho, buf);
    } else {
      if (!request.ParseFromString(buf)) return;
      reply.set_payload(request.payload());
      reply.SerializeToString(&out);
      sent = endpoint->Send(RawKind::kEcho, out);
    }
    if (!sent.ok()) return;
  }
}

class RawServer final : public PeerServer {
 public:
  RawServer(std::unique_ptr<RawListener> listener, RawWork work)
      : listener_(std::move(listener)), address_(listener_->address()), work_(work) {
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~RawServer() override { Shutdown(); }

  std::string address() const override { return address_; }

  void Shutdown() override {
    {
      absl::MutexLock lock(&mu_);
      if (shut_down_) return;
      shut_down_ = true;
    }
    listener_->Close();
    accept_thread_.join();
    // No Accept() runs any more, so connections_ only changes here.
    for (Conn& c : connections_) c.endpoint->Shutdown();
    for (Conn& c : connections_) c.thread.join();
    connections_.clear();
  }

 private:
  struct Conn {
    std::unique_ptr<RawEndpoint> endpoint;
    std::unique_ptr<std::atomic<bool>> finished;
    std::thread thread;
  };

  void AcceptLoop() {
    while (true) {
      absl::StatusOr<std::unique_ptr<RawEndpoint>> endpoint = listener_->Accept();
      if (!endpoint.ok()) return;  // closed
      absl::MutexLock lock(&mu_);
      // A long-running --serve sees a connection per caller of every run: reap the ones
      // whose client has gone, so threads and sockets do not pile up.
      for (auto it = connections_.begin(); it != connections_.end();) {
        if (it->finished->load()) {
          it->thread.join();
          it = connections_.erase(it);
        } else {
          ++it;
        }
      }
      Conn conn{std::move(*endpoint), std::make_unique<std::atomic<bool>>(false), {}};
      RawEndpoint* e = conn.endpoint.get();
      std::atomic<bool>* finished = conn.finished.get();
      conn.thread = std::thread([e, finished, work = work_] {
        EchoLoop(e, work);
        finished->store(true);
      });
      connections_.push_back(std::move(conn));
    }
  }

  const std::unique_ptr<RawListener> listener_;
  const std::string address_;
  const RawWork work_;
  std::thread accept_thread_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Conn> connections_;  // appended under mu_ by AcceptLoop, then Shutdown's
};

class RawCaller final : public Caller {
 public:
  RawCaller(std::unique_ptr<RawEndpoint> endpoint, uint64_t size, RawWork work)
      : endpoint_(std::move(endpoint)), payload_(MakePayload(size)), work_(work) {
    if (work_ == RawWork::kProtobuf) request_.set_payload(payload_);
  }
  ~RawCaller() override { endpoint_->Shutdown(); }

  absl::Status Call() override {
    if (work_ == RawWork::kEcho) {
      if (absl::Status s = endpoint_->Send(RawKind::kEcho, payload_); !s.ok()) return s;
    } else {
      // Serialized per call, as an RPC serializes each request.
      request_.SerializeToString(&wire_);
      if (absl::Status s = endpoint_->Send(RawKind::kEcho, wire_); !s.ok()) return s;
    }
    absl::StatusOr<RawKind> kind = endpoint_->Receive(&reply_);
    if (!kind.ok()) return kind.status();
    size_t got = reply_.size();
    if (work_ == RawWork::kProtobuf) {
      if (!reply_message_.ParseFromString(reply_)) {
        return absl::InternalError("raw protobuf echo: the reply does not parse");
      }
      got = reply_message_.payload().size();
    }
    if (*kind != RawKind::kEcho || got != payload_.size()) {
      return absl::InternalError(absl::StrCat("raw echo of ", payload_.size(),
                                              " bytes came back with ", got));
    }
    return absl::OkStatus();
  }

 private:
  const std::unique_ptr<RawEndpoint> endpoint_;
  const std::string payload_;
  const RawWork work_;
  std::string reply_;
  // RawWork::kProtobuf only.
  EchoRequest request_;
  EchoReply reply_message_;
  std::string wire_;
};

class RawPeerClient final : public PeerClient {
 public:
  RawPeerClient(const RawMechanism& mechanism, Address address, RawWork work)
      : mechanism_(mechanism), address_(std::move(address)), work_(work) {}
  ~RawPeerClient() override {
    if (control_ != nullptr) control_->Shutdown();
  }

  absl::StatusOr<std::unique_ptr<Caller>> NewCaller(uint64_t size) override {
    absl::StatusOr<std::unique_ptr<RawEndpoint>> endpoint =
        mechanism_.Connect(address_, absl::Now() + kConnectTimeout);
    if (!endpoint.ok()) return endpoint.status();
    auto caller = std::make_unique<RawCaller>(std::move(*endpoint), size, work_);
    if (absl::Status s = caller->Call(); !s.ok()) return s;
    return caller;
  }

  absl::StatusOr<CpuTimes> ServerCpu() override {
    // exec: one server per connection, all children of this process.
    if (address_.scheme == "exec") return SpawnedServersCpu();
    absl::MutexLock lock(&mu_);
    if (control_ == nullptr) {
      absl::StatusOr<std::unique_ptr<RawEndpoint>> endpoint =
          mechanism_.Connect(address_, absl::Now() + kConnectTimeout);
      if (!endpoint.ok()) return endpoint.status();
      control_ = std::move(*endpoint);
    }
    if (absl::Status s = control_->Send(RawKind::kCpuRequest, ""); !s.ok()) return s;
    std::string reply;
    absl::StatusOr<RawKind> kind = control_->Receive(&reply);
    if (!kind.ok()) return kind.status();
    if (*kind != RawKind::kEcho || reply.size() != 16) {
      return absl::InternalError(
          absl::StrCat("raw CPU-time reply has ", reply.size(), " bytes, expected 16"));
    }
    CpuTimes t;
    t.user_s = static_cast<double>(GetU64(reply.data())) / 1e6;
    t.system_s = static_cast<double>(GetU64(reply.data() + 8)) / 1e6;
    return t;
  }

 private:
  const RawMechanism& mechanism_;
  const Address address_;
  const RawWork work_;
  absl::Mutex mu_;
  std::unique_ptr<RawEndpoint> control_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<PeerServer>> StartRawServer(const RawMechanism& mechanism,
                                                           const std::string& address,
                                                           RawWork work) {
  absl::StatusOr<Address> parsed = Address::Parse(address);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<std::unique_ptr<RawListener>> listener = mechanism.Listen(*parsed);
  if (!listener.ok()) return listener.status();
  return std::make_unique<RawServer>(std::move(*listener), work);
}

absl::StatusOr<std::unique_ptr<PeerClient>> NewRawPeerClient(const RawMechanism& mechanism,
                                                             const std::string& address,
                                                             RawWork work) {
  absl::StatusOr<Address> parsed = Address::Parse(address);
  if (!parsed.ok()) return parsed.status();
  return std::make_unique<RawPeerClient>(mechanism, std::move(*parsed), work);
}

}  // namespace ferry::bench
