#include "bench/ferry_peer.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/raw_pipe_mechanism.h"
#include "proto/bench.ferry.h"
#include "proto/bench.pb.h"
#include "runtime/channel.h"
#include "runtime/server.h"
#include "transports/default_transports.h"

namespace ferry::bench {
namespace {

constexpr uint32_t kMessageLimit = static_cast<uint32_t>(kMaxPayload + 4096);

class BenchService final : public Bench::Service {
 public:
  absl::Status Echo(ServerContext&, const EchoRequest& request, EchoReply* reply) override {
    reply->set_payload(request.payload());
    return absl::OkStatus();
  }

  absl::Status CpuUsage(ServerContext&, const CpuUsageRequest&, CpuUsageReply* reply) override {
    const CpuTimes t = ProcessCpu();
    reply->set_user_us(static_cast<int64_t>(t.user_s * 1e6));
    reply->set_system_us(static_cast<int64_t>(t.system_s * 1e6));
    reply->set_pid(static_cast<int32_t>(::getpid()));
    return absl::OkStatus();
  }
};

class FerryServer final : public PeerServer {
 public:
  FerryServer(std::unique_ptr<BenchService> service, std::unique_ptr<Server> server)
      : service_(std::move(service)), server_(std::move(server)) {}
  ~FerryServer() override { Shutdown(); }

  std::string address() const override { return server_->addresses()[0]; }
  void Shutdown() override { server_->Shutdown(absl::Now() + absl::Seconds(1)); }

 private:
  const std::unique_ptr<BenchService> service_;  // outlives server_ (declared first)
  const std::unique_ptr<Server> server_;
};

ChannelOptions BenchChannelOptions() {
  ChannelOptions options;
  options.max_send_message_size = kMessageLimit;
  options.max_receive_message_size = kMessageLimit;
  return options;
}

class FerryCaller final : public Caller {
 public:
  FerryCaller(std::shared_ptr<Channel> channel, uint64_t size) : stub_(std::move(channel)) {
    request_.set_payload(MakePayload(size));
  }

  absl::Status Call() override {
    ClientContext ctx;
    // The reply object is reused across calls (as the gRPC caller does), so its buffer
    // is not reallocated per call.
    if (absl::Status s = stub_.Echo(ctx, request_, &reply_); !s.ok()) return s;
    if (reply_.payload().size() != request_.payload().size()) {
      return absl::InternalError(absl::StrCat("ferry echo of ", request_.payload().size(),
                                              " bytes came back with ", reply_.payload().size()));
    }
    return absl::OkStatus();
  }

 private:
  Bench::Stub stub_;
  EchoRequest request_;
  EchoReply reply_;
};

class FerryPeerClient final : public PeerClient {
 public:
  explicit FerryPeerClient(std::string address) : address_(std::move(address)) {}

  absl::StatusOr<std::unique_ptr<Caller>> NewCaller(uint64_t size) override {
    absl::StatusOr<std::shared_ptr<Channel>> channel =
        Channel::Create(address_, DefaultTransports(), BenchChannelOptions());
    if (!channel.ok()) return channel.status();
    auto caller = std::make_unique<FerryCaller>(std::move(*channel), size);
    if (absl::Status s = caller->Call(); !s.ok()) return s;
    return caller;
  }

  absl::StatusOr<CpuTimes> ServerCpu() override {
    // exec: one server per connection, all children of this process.
    if (absl::StartsWith(address_, "exec:")) return SpawnedServersCpu();
    absl::MutexLock lock(&mu_);
    if (control_ == nullptr) {
      absl::StatusOr<std::shared_ptr<Channel>> channel =
          Channel::Create(address_, DefaultTransports(), BenchChannelOptions());
      if (!channel.ok()) return channel.status();
      control_ = std::move(*channel);
    }
    ClientContext ctx;
    ctx.set_timeout(absl::Seconds(10));
    absl::StatusOr<CpuUsageReply> reply = Bench::Stub(control_).CpuUsage(ctx, CpuUsageRequest());
    if (!reply.ok()) return reply.status();
    CpuTimes t;
    t.user_s = static_cast<double>(reply->user_us()) / 1e6;
    t.system_s = static_cast<double>(reply->system_us()) / 1e6;
    return t;
  }

 private:
  const std::string address_;
  absl::Mutex mu_;
  std::shared_ptr<Channel> control_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<PeerServer>> StartFerryServer(const std::string& address) {
  auto service = std::make_unique<BenchService>();
  ServerOptions options;
  options.max_receive_message_size = kMessageLimit;
  options.max_send_message_size = kMessageLimit;
  absl::StatusOr<std::unique_ptr<Server>> server = ServerBuilder(DefaultTransports())
                                                       .AddListeningAddress(address)
                                                       .RegisterService(service.get(),
                                                                        HandlerThread::kInline)
                                                       .SetOptions(options)
                                                       .BuildAndStart();
  if (!server.ok()) return server.status();
  return std::make_unique<FerryServer>(std::move(service), std::move(*server));
}

absl::StatusOr<std::unique_ptr<PeerClient>> NewFerryPeerClient(const std::string& address) {
  return std::make_unique<FerryPeerClient>(address);
}

}  // namespace ferry::bench
