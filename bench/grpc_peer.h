// The gRPC baseline: the same bench.proto compiled by grpc_cpp_plugin
// (ferry::bench::grpc_gen::Bench), served by a grpc++ synchronous server without TLS
// (InsecureServerCredentials) and called through gRPC's blocking stub.
//
// Addresses are given in Ferry's syntax and translated: "unix:/path" is the same for gRPC;
// "tcp://host:port" becomes "host:port". gRPC serves only these two mechanisms.
//
// Each Caller has its own grpc::Channel on its own connection (a local subchannel pool, so
// channels to one target do not share a connection), as each Ferry and raw Caller has.
// Message size limits are lifted; the HTTP proxy is disabled; calls have no deadline.
#ifndef FERRY_BENCH_GRPC_PEER_H_
#define FERRY_BENCH_GRPC_PEER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bench/peer.h"

namespace ferry::bench {

absl::StatusOr<std::unique_ptr<PeerServer>> StartGrpcServer(const std::string& address);

absl::StatusOr<std::unique_ptr<PeerClient>> NewGrpcPeerClient(const std::string& address);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_GRPC_PEER_H_
