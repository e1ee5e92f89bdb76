#include "bench/grpc_peer.h"

#include <unistd.h>

#include <climits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "proto/bench.grpc.pb.h"
#include "proto/bench.pb.h"
#include "transports/tcp/tcp_transport.h"
#include "transports/transport.h"

namespace ferry::bench {
namespace {

using GrpcBench = grpc_gen::Bench;

// A Ferry address as gRPC spells it, and how to spell the bound address back.
struct GrpcAddress {
  std::string target;  // "unix:/p" or "host:port"
  bool tcp = false;
  std::string host;  // tcp only, with brackets for IPv6
};

absl::StatusOr<GrpcAddress> ToGrpcAddress(const std::string& address) {
  absl::StatusOr<Address> parsed = Address::Parse(address);
  if (!parsed.ok()) return parsed.status();
  GrpcAddress out;
  if (parsed->scheme == "unix") {
    out.target = absl::StrCat("unix:", parsed->target);
    return out;
  }
  if (parsed->scheme == "tcp") {
    absl::StatusOr<TcpHostPort> hp = ParseTcpTarget(parsed->target);
    if (!hp.ok()) return hp.status();
    out.tcp = true;
    out.host = absl::StrContains(hp->host, ':') ? absl::StrCat("[", hp->host, "]") : hp->host;
    out.target = absl::StrCat(out.host, ":", hp->port);
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("gRPC serves only unix: and tcp: addresses, not ", address));
}

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

class GrpcBenchService final : public GrpcBench::Service {
 public:
  grpc::Status Echo(grpc::ServerContext*, const EchoRequest* request, EchoReply* reply) override {
    reply->set_payload(request->payload());
    return grpc::Status::OK;
  }

  grpc::Status CpuUsage(grpc::ServerContext*, const CpuUsageRequest*,
                        CpuUsageReply* reply) override {
    const CpuTimes t = ProcessCpu();
    reply->set_user_us(static_cast<int64_t>(t.user_s * 1e6));
    reply->set_system_us(static_cast<int64_t>(t.system_s * 1e6));
    reply->set_pid(static_cast<int32_t>(::getpid()));
    return grpc::Status::OK;
  }
};

class GrpcServer final : public PeerServer {
 public:
  GrpcServer(std::unique_ptr<GrpcBenchService> service, std::unique_ptr<grpc::Server> server,
             std::string address)
      : service_(std::move(service)), server_(std::move(server)), address_(std::move(address)) {}
  ~GrpcServer() override { Shutdown(); }

  std::string address() const override { return address_; }
  void Shutdown() override {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    done_ = true;
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
  }

 private:
  const std::unique_ptr<GrpcBenchService> service_;
  const std::unique_ptr<grpc::Server> server_;
  const std::string address_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Without this, channels with equal arguments share one subchannel (one connection).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

class GrpcCaller final : public Caller {
 public:
  GrpcCaller(const std::string& target, uint64_t size)
      : stub_(GrpcBench::NewStub(NewChannel(target))) {
    request_.set_payload(MakePayload(size));
  }

  absl::Status Call() override {
    grpc::ClientContext ctx;  // gRPC contexts are single-use
    // The reply object is reused across calls, as the Ferry caller does.
    const grpc::Status s = stub_->Echo(&ctx, request_, &reply_);
    if (!s.ok()) return FromGrpc(s);
    if (reply_.payload().size() != request_.payload().size()) {
      return absl::InternalError(absl::StrCat("grpc echo of ", request_.payload().size(),
                                              " bytes came back with ", reply_.payload().size()));
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<GrpcBench::Stub> stub_;
  EchoRequest request_;
  EchoReply reply_;
};

class GrpcPeerClient final : public PeerClient {
 public:
  explicit GrpcPeerClient(std::string target) : target_(std::move(target)) {}

  absl::StatusOr<std::unique_ptr<Caller>> NewCaller(uint64_t size) override {
    auto caller = std::make_unique<GrpcCaller>(target_, size);
    if (absl::Status s = caller->Call(); !s.ok()) return s;
    return caller;
  }

  absl::StatusOr<CpuTimes> ServerCpu() override {
    absl::MutexLock lock(&mu_);
    if (control_ == nullptr) control_ = GrpcBench::NewStub(NewChannel(target_));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    CpuUsageReply reply;
    const grpc::Status s = control_->CpuUsage(&ctx, CpuUsageRequest(), &reply);
    if (!s.ok()) return FromGrpc(s);
    CpuTimes t;
    t.user_s = static_cast<double>(reply.user_us()) / 1e6;
    t.system_s = static_cast<double>(reply.system_us()) / 1e6;
    return t;
  }

 private:
  const std::string target_;
  absl::Mutex mu_;
  std::unique_ptr<GrpcBench::Stub> control_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<PeerServer>> StartGrpcServer(const std::string& address) {
  absl::StatusOr<GrpcAddress> where = ToGrpcAddress(address);
  if (!where.ok()) return where.status();
  auto service = std::make_unique<GrpcBenchService>();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(where->target, grpc::InsecureServerCredentials(),
                           where->tcp ? &port : nullptr);
  builder.RegisterService(service.get());
  builder.SetMaxReceiveMessageSize(INT_MAX);
  builder.SetMaxSendMessageSize(INT_MAX);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || (where->tcp && port == 0)) {
    return absl::UnavailableError(absl::StrCat("gRPC cannot serve on ", address));
  }
  const std::string bound =
      where->tcp ? absl::StrCat("tcp://", where->host, ":", port) : address;
  return std::make_unique<GrpcServer>(std::move(service), std::move(server), bound);
}

absl::StatusOr<std::unique_ptr<PeerClient>> NewGrpcPeerClient(const std::string& address) {
  absl::StatusOr<GrpcAddress> where = ToGrpcAddress(address);
  if (!where.ok()) return where.status();
  return std::make_unique<GrpcPeerClient>(where->target);
}

}  // namespace ferry::bench
