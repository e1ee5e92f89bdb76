#include "bench/transports.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/raw_stream.h"
#include "transports/tcp/tcp_transport.h"

namespace ferry::bench {

std::string SocketFileInDir(absl::string_view dir, Impl impl) {
  return absl::StrCat("unix:", dir, "/", ImplName(impl), ".sock");
}

std::string LoopbackTcpAnyPort(absl::string_view, Impl) { return "tcp://127.0.0.1:0"; }

absl::StatusOr<std::string> SuffixedTarget(const Address& ferry_address, Impl impl) {
  if (impl == Impl::kFerry) return ferry_address.ToString();
  Address a = ferry_address;
  absl::StrAppend(&a.target, ".", ImplName(impl));
  return a.ToString();
}

absl::StatusOr<std::string> ConsecutivePorts(const Address& ferry_address, Impl impl) {
  absl::StatusOr<TcpHostPort> hp = ParseTcpTarget(ferry_address.target);
  if (!hp.ok()) return hp.status();
  if (impl == Impl::kFerry) return ferry_address.ToString();
  if (hp->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("no consecutive ports after port 0 in ", ferry_address.ToString()));
  }
  const int port = hp->port + (impl == Impl::kRaw ? 1 : 2);
  if (port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", hp->port, " leaves no room for the raw and gRPC peers"));
  }
  const bool v6 = hp->host.find(':') != std::string::npos;
  return absl::StrCat("tcp://", v6 ? "[" : "", hp->host, v6 ? "]" : "", ":", port);
}

absl::Span<const BenchTransport> BenchTransports() {
  static const UdsRawMechanism* const uds_raw = new UdsRawMechanism();
  static const TcpRawMechanism* const tcp_raw = new TcpRawMechanism();
  // Add a mechanism here (and its raw floor); rows appear in this order.
  static const std::vector<BenchTransport>* const table = new std::vector<BenchTransport>{
      {"uds", "unix", "", SocketFileInDir, SuffixedTarget, uds_raw, /*grpc=*/true},
      {"tcp", "tcp", "", LoopbackTcpAnyPort, ConsecutivePorts, tcp_raw, /*grpc=*/true},
  };
  return *table;
}

const BenchTransport* FindTransportByName(absl::string_view name) {
  for (const BenchTransport& t : BenchTransports()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const BenchTransport* FindTransportByScheme(absl::string_view scheme) {
  for (const BenchTransport& t : BenchTransports()) {
    if (t.scheme == scheme) return &t;
  }
  return nullptr;
}

}  // namespace ferry::bench
