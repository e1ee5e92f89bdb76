#include "bench/driver.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/child.h"
#include "bench/ferry_peer.h"
#include "bench/grpc_peer.h"
#include "bench/output.h"
#include "bench/raw_peer.h"

namespace ferry::bench {
namespace {

// The peers of one transport, and what keeps them alive.
struct TransportPeers {
  const BenchTransport* transport = nullptr;
  std::string dir;  // local mode: the peers' directory, removed with everything in it
  std::vector<ServerChild> children;
  std::vector<std::pair<Impl, std::unique_ptr<PeerClient>>> clients;

  ~TransportPeers() {
    clients.clear();
    for (ServerChild& c : children) c.Stop();
    if (!dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }
};

bool Serves(const BenchTransport& transport, Impl impl) {
  return impl != Impl::kGrpc || transport.grpc;
}

absl::StatusOr<std::unique_ptr<TransportPeers>> LocalPeers(const BenchTransport& transport,
                                                           const DriverOptions& options) {
  auto peers = std::make_unique<TransportPeers>();
  peers->transport = &transport;
  peers->dir = absl::StrCat(options.scratch_dir, "/", transport.name);
  std::error_code ec;
  std::filesystem::create_directory(peers->dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", peers->dir, ": ", ec.message()));
  for (Impl impl : options.impls) {
    if (!Serves(transport, impl)) continue;
    if (transport.client_spawns_server) {
      // exec: every connection spawns its own server; pin those as --pin asks.
      std::string address = transport.local_address(peers->dir, impl);
      if (options.server_cpu >= 0) {
        absl::StrAppend(&address, "&arg=--internal_cpu=", options.server_cpu);
      }
      absl::StatusOr<std::unique_ptr<PeerClient>> client =
          NewPeerClient(impl, transport, address);
      if (!client.ok()) return client.status();
      peers->clients.emplace_back(impl, std::move(*client));
      continue;
    }
    absl::StatusOr<ServerChild> child = ServerChild::Start(
        options.self, impl, transport.local_address(peers->dir, impl), options.server_cpu);
    if (!child.ok()) return child.status();
    absl::StatusOr<std::unique_ptr<PeerClient>> client =
        NewPeerClient(impl, transport, child->address());
    if (!client.ok()) return client.status();
    peers->children.push_back(std::move(*child));
    peers->clients.emplace_back(impl, std::move(*client));
  }
  return peers;
}

absl::StatusOr<std::unique_ptr<TransportPeers>> RemotePeers(const DriverOptions& options) {
  absl::StatusOr<Address> base = Address::Parse(options.connect);
  if (!base.ok()) return base.status();
  const BenchTransport* transport = FindTransportByScheme(base->scheme);
  if (transport == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--connect: no benchmark transport for scheme \"", base->scheme, "\""));
  }
  auto peers = std::make_unique<TransportPeers>();
  peers->transport = transport;
  for (Impl impl : options.impls) {
    if (!Serves(*transport, impl)) continue;
    absl::StatusOr<std::string> address = transport->peer_address(*base, impl);
    if (!address.ok()) return address.status();
    absl::StatusOr<std::unique_ptr<PeerClient>> client = NewPeerClient(impl, *transport, *address);
    if (!client.ok()) return client.status();
    peers->clients.emplace_back(impl, std::move(*client));
  }
  return peers;
}

// One measurement: the mode, size and caller count of a point.
struct Point {
  Mode mode;
  uint64_t size;
  int concurrency;
};

std::vector<Point> Points(const DriverOptions& options) {
  std::vector<Point> points;
  for (Mode mode : options.modes) {
    for (uint64_t size : options.sizes) {
      if (mode == Mode::kThroughput) {
        for (int c : options.concurrency) points.push_back({mode, size, c});
      } else {
        points.push_back({mode, size, 1});
      }
    }
  }
  return points;
}

// The closed-loop calls/s of the slowest of `clients` at `size`.
absl::StatusOr<double> SlowestClosedLoopRate(
    const std::vector<std::pair<Impl, std::unique_ptr<PeerClient>>>& clients, uint64_t size,
    const ModeOptions& mode, Progress& progress) {
  const absl::Duration probe =
      std::clamp(mode.duration / 5, absl::Milliseconds(50), absl::Milliseconds(500));
  double slowest = 0;
  for (const auto& [impl, client] : clients) {
    progress.Begin(absl::StrCat("open loop: probing ", ImplName(impl), " at ", FormatSize(size)));
    absl::StatusOr<double> rate = ClosedLoopRate(*client, size, probe);
    progress.End();
    if (!rate.ok()) return rate.status();
    if (slowest == 0 || *rate < slowest) slowest = *rate;
  }
  return slowest;
}

// Turns a measurement into the point's row: names it, and turns a set-up failure into a
// row with one error and no figures (noted on stderr) rather than ending the run.
Result Finish(absl::StatusOr<Result> result, const Point& point, const BenchTransport& transport,
              Impl impl, const std::string& label, Progress& progress) {
  if (!result.ok()) {
    progress.Note(absl::StrCat("ferry-bench: ", label, " ", ImplName(impl), ": ",
                               result.status().ToString()));
    Result failed;
    failed.mode = std::string(ModeName(point.mode));
    failed.size = point.size;
    failed.concurrency = point.concurrency;
    failed.errors = 1;
    failed.setup_error = result.status();
    result = std::move(failed);
  } else if (result->errors > 0) {
    progress.Note(absl::StrCat("ferry-bench: ", label, " ", ImplName(impl), ": ",
                               result->errors, " calls failed"));
  }
  result->impl = std::string(ImplName(impl));
  result->transport = std::string(transport.name);
  result->variant = std::string(transport.variant);
  return std::move(*result);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PeerClient>> NewPeerClient(Impl impl,
                                                          const BenchTransport& transport,
                                                          const std::string& address) {
  switch (impl) {
    case Impl::kFerry:
      return NewFerryPeerClient(address);
    case Impl::kRaw:
      return NewRawPeerClient(*transport.raw, address, RawWork::kEcho);
    case Impl::kRawProtobuf:
      return NewRawPeerClient(*transport.raw, address, RawWork::kProtobuf);
    case Impl::kGrpc:
      return NewGrpcPeerClient(address);
  }
  return absl::InvalidArgumentError("unknown implementation");
}

absl::StatusOr<std::vector<Result>> RunBenchmarks(const DriverOptions& options,
                                                  Progress& progress) {
  std::vector<const BenchTransport*> transports = options.transports;
  if (!options.connect.empty()) {
    absl::StatusOr<Address> base = Address::Parse(options.connect);
    if (!base.ok()) return base.status();
    transports = {FindTransportByScheme(base->scheme)};
    if (transports[0] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--connect: no benchmark transport for scheme \"", base->scheme, "\""));
    }
  }
  if (options.connect.empty() && options.scratch_dir.empty()) {
    return absl::InvalidArgumentError("local mode needs a scratch directory");
  }
  const std::vector<Point> points = Points(options);
  size_t total = 0;
  for (const BenchTransport* t : transports) {
    for (Impl impl : options.impls) total += Serves(*t, impl) ? points.size() : 0;
  }

  std::vector<Result> results;
  size_t done = 0;
  for (const BenchTransport* transport : transports) {
    absl::StatusOr<std::unique_ptr<TransportPeers>> peers =
        options.connect.empty() ? LocalPeers(*transport, options) : RemotePeers(options);
    if (!peers.ok()) return peers.status();
    auto& clients = (*peers)->clients;
    for (const Point& point : points) {
      std::string label = absl::StrCat(ModeName(point.mode), " ", transport->name, " ",
                                       FormatSize(point.size));
      if (point.mode == Mode::kThroughput) absl::StrAppend(&label, " x", point.concurrency);
      if (point.mode == Mode::kLatency || point.mode == Mode::kThroughput) {
        // All implementations together, taking turns (see MeasureLatency/Throughput).
        std::vector<PeerClient*> all;
        for (auto& [impl, client] : clients) all.push_back(client.get());
        progress.Begin(absl::StrCat("[", done + 1, "-", done + all.size(), "/", total, "] ", label));
        std::vector<absl::StatusOr<Result>> measured =
            point.mode == Mode::kLatency
                ? MeasureLatency(all, point.size, options.mode_options, progress)
                : MeasureThroughput(all, point.size, point.concurrency, options.mode_options,
                                    progress);
        progress.End();
        done += all.size();
        for (size_t i = 0; i < clients.size(); ++i) {
          results.push_back(Finish(std::move(measured[i]), point, *transport, clients[i].first,
                                   label, progress));
        }
        continue;
      }
      double rate = options.mode_options.rate;
      if (point.mode == Mode::kOpenLoop && !(rate > 0)) {
        absl::StatusOr<double> slowest = SlowestClosedLoopRate(clients, point.size,
                                                               options.mode_options, progress);
        if (!slowest.ok()) {
          progress.Note(absl::StrCat("ferry-bench: ", label, ": cannot probe the rate: ",
                                     slowest.status().ToString()));
        }
        rate = slowest.ok() ? *slowest * options.mode_options.load : 0;
      }
      std::vector<PeerClient*> all;
      for (auto& [impl, client] : clients) all.push_back(client.get());
      progress.Begin(absl::StrCat("[", done + 1, "-", done + all.size(), "/", total, "] ", label));
      std::vector<absl::StatusOr<Result>> measured =
          MeasureOpenLoop(all, point.size, rate, options.mode_options, progress);
      progress.End();
      done += all.size();
      for (size_t i = 0; i < clients.size(); ++i) {
        results.push_back(Finish(std::move(measured[i]), point, *transport, clients[i].first,
                                 label, progress));
      }
    }
  }
  return results;
}

}  // namespace ferry::bench
