#include "bench/serve.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/child.h"
#include "bench/ferry_peer.h"
#include "bench/grpc_peer.h"
#include "transports/transport.h"

namespace ferry::bench {
namespace {

// Blocks `signals` in this thread (and every thread started after it) and returns them.
sigset_t BlockSignals(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int ServeOne(const ServeOptions& options, const BenchTransport& transport) {
  sigset_t signals = BlockSignals({SIGTERM, SIGINT});
  if (options.child) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() == 1) return 1;  // the driver died before prctl took effect
  }
  absl::StatusOr<std::unique_ptr<PeerServer>> server =
      StartPeerServer(options.impls[0], transport, options.address);
  if (!server.ok()) {
    std::cerr << "ferry-bench: cannot serve " << ImplName(options.impls[0]) << " on "
              << options.address << ": " << server.status() << std::endl;
    return 1;
  }
  std::cout << ServingLine(options.impls[0], (*server)->address()) << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  (*server)->Shutdown();
  return 0;
}

int ServeAll(const ServeOptions& options, const BenchTransport& transport,
             const Address& given) {
  sigset_t signals = BlockSignals({SIGTERM, SIGINT, SIGCHLD});
  if (options.child) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  // The Ferry peer first: with port 0 the others are placed after the port it got.
  std::vector<Impl> order = options.impls;
  std::stable_partition(order.begin(), order.end(), [](Impl i) { return i == Impl::kFerry; });
  std::vector<ServerChild> children;
  Address base = given;
  for (Impl impl : order) {
    std::string address = options.address;
    if (impl != Impl::kFerry) {
      absl::StatusOr<std::string> derived = transport.peer_address(base, impl);
      if (!derived.ok()) {
        std::cerr << "ferry-bench: no address for the " << ImplName(impl)
                  << " peer: " << derived.status() << std::endl;
        return 1;
      }
      address = *derived;
    }
    absl::StatusOr<ServerChild> child = ServerChild::Start(options.self, impl, address, -1);
    if (!child.ok()) {
      std::cerr << "ferry-bench: " << child.status() << std::endl;
      return 1;
    }
    if (impl == Impl::kFerry) {
      absl::StatusOr<Address> bound = Address::Parse(child->address());
      if (bound.ok()) base = *bound;
    }
    std::cout << ServingLine(impl, child->address()) << std::endl;
    children.push_back(std::move(*child));
  }
  int sig = 0;
  sigwait(&signals, &sig);
  if (sig == SIGCHLD) std::cerr << "ferry-bench: a server process exited; stopping" << std::endl;
  for (ServerChild& c : children) c.Stop();
  return sig == SIGCHLD ? 1 : 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PeerServer>> StartPeerServer(Impl impl,
                                                            const BenchTransport& transport,
                                                            const std::string& address) {
  switch (impl) {
    case Impl::kFerry:
      return StartFerryServer(address);
    case Impl::kRaw:
      return StartRawServer(*transport.raw, address, RawWork::kEcho);
    case Impl::kRawProtobuf:
      return StartRawServer(*transport.raw, address, RawWork::kProtobuf);
    case Impl::kGrpc:
      if (!transport.grpc) {
        return absl::InvalidArgumentError(
            absl::StrCat("gRPC does not run over ", transport.name));
      }
      return StartGrpcServer(address);
  }
  return absl::InvalidArgumentError("unknown implementation");
}

int Serve(const ServeOptions& options) {
  absl::StatusOr<Address> parsed = Address::Parse(options.address);
  if (!parsed.ok()) {
    std::cerr << "ferry-bench: --serve: " << parsed.status() << std::endl;
    return 2;
  }
  const BenchTransport* transport = FindTransportByScheme(parsed->scheme);
  if (transport == nullptr) {
    std::cerr << "ferry-bench: --serve: no benchmark transport for scheme \"" << parsed->scheme
              << "\"" << std::endl;
    return 2;
  }
  if (options.impls.empty()) {
    std::cerr << "ferry-bench: --serve_impl names no implementation" << std::endl;
    return 2;
  }
  std::vector<Impl> impls = options.impls;
  if (!transport->grpc) {
    impls.erase(std::remove(impls.begin(), impls.end(), Impl::kGrpc), impls.end());
  }
  if (impls.empty()) {
    std::cerr << "ferry-bench: gRPC does not run over " << transport->name << std::endl;
    return 2;
  }
  ServeOptions adjusted = options;
  adjusted.impls = impls;
  if (impls.size() == 1) return ServeOne(adjusted, *transport);
  return ServeAll(adjusted, *transport, *parsed);
}

}  // namespace ferry::bench
