#include "bench/transports.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/raw_mq_mechanism.h"
#include "bench/raw_pipe_mechanism.h"
#include "bench/raw_shm_mechanism.h"
#include "bench/raw_stream.h"
#include "bench/raw_udp_mechanism.h"
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
  // Ferry's port, then raw, gRPC and raw+protobuf (the last added after the others, so
  // the first three keep their ports).
  const int offset = impl == Impl::kRaw ? 1 : impl == Impl::kGrpc ? 2 : 3;
  const int port = hp->port + offset;
  if (port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "port ", hp->port, " leaves no room for the ", ImplName(impl), " peer"));
  }
  const bool v6 = hp->host.find(':') != std::string::npos;
  return absl::StrCat("tcp://", v6 ? "[" : "", hp->host, v6 ? "]" : "", ":", port);
}

// UDP: the raw floor and the gRPC-less Ferry peer on consecutive ports, like TCP.
std::string LoopbackUdpAnyPort(absl::string_view, Impl) { return "udp://127.0.0.1:0"; }

absl::StatusOr<std::string> UdpConsecutivePorts(const Address& ferry_address, Impl impl) {
  if (impl == Impl::kFerry) return ferry_address.ToString();
  Address tcp = ferry_address;
  tcp.scheme = "tcp";
  tcp.options.clear();
  absl::StatusOr<std::string> s = ConsecutivePorts(tcp, impl);
  if (!s.ok()) return s.status();
  return absl::StrCat("udp", s->substr(3));
}

// Pipes to a child (exec:/stdio:): no server to start; each connection spawns this program
// (/proc/self/exe, resolved in the spawning process) serving `impl` on stdio:-. Its
// "serving" line would go to stderr (stdio: moves stdout there), so stderr is /dev/null.
std::string SpawnSelfOnStdio(absl::string_view, Impl impl) {
  return absl::StrCat("exec:/proc/self/exe?arg=--serve=stdio:-&arg=--serve_impl=",
                      ImplName(impl), "&stderr=null");
}

absl::StatusOr<std::string> NoRemotePipePeers(const Address& address, Impl) {
  return absl::InvalidArgumentError(absl::StrCat(
      "no remote peers for ", address.ToString(), ": pipe servers are the client's children"));
}

// Named pipes: one directory per implementation inside the run's scratch directory.
std::string FifoDirInDir(absl::string_view dir, Impl impl) {
  return absl::StrCat("fifo:", dir, "/", ImplName(impl));
}

// Shared memory: every backing x wake-up combination is its own row (the variant). The
// rendezvous is an abstract socket, so names must be unique per run: they carry the run's
// scratch directory name (dir is <scratch>/shm).
constexpr const char* kShmBackings[] = {"memfd", "shm", "file"};
constexpr const char* kShmWakes[] = {"futex", "spin", "eventfd", "signal"};
enum { Backing_memfd, Backing_shm, Backing_file };
enum { Wake_futex, Wake_spin, Wake_eventfd, Wake_signal };

template <int kBacking, int kWake>
std::string ShmAddress(absl::string_view dir, Impl impl) {
  absl::string_view run = dir;
  run.remove_suffix(run.size() - run.rfind('/'));     // <scratch>
  run.remove_prefix(run.rfind('/') + 1);              // its last component
  return absl::StrCat("shm://fb-", run, "-", kShmBackings[kBacking], "-", kShmWakes[kWake],
                      "-", ImplName(impl), "?backing=", kShmBackings[kBacking],
                      "&wake=", kShmWakes[kWake]);
}

#define FERRY_SHM_ROW(b, w)                                                          \
  BenchTransport {                                                                   \
    "shm", "shm", "backing=" #b ",wake=" #w, ShmAddress<Backing_##b, Wake_##w>,      \
        SuffixedTarget, shm_raw, /*grpc=*/false                                      \
  }

// Message queues: names are per-machine, so they carry the run's scratch directory name
// (dir is <scratch>/<transport>) and the implementation.
template <int kSysv>
std::string QueueAddress(absl::string_view dir, Impl impl) {
  absl::string_view run = dir;
  run.remove_suffix(run.size() - run.rfind('/'));  // <scratch>
  run.remove_prefix(run.rfind('/') + 1);           // its last component
  return absl::StrCat(kSysv ? "sysv" : "mq", "://fb-", run, "-", ImplName(impl));
}

absl::Span<const BenchTransport> BenchTransports() {
  static const UdsRawMechanism* const uds_raw = new UdsRawMechanism();
  static const TcpRawMechanism* const tcp_raw = new TcpRawMechanism();
  static const ShmRawMechanism* const shm_raw = new ShmRawMechanism();
  static const PipeRawMechanism* const pipe_raw = new PipeRawMechanism();
  static const FifoRawMechanism* const fifo_raw = new FifoRawMechanism();
  static const MqRawMechanism* const mq_raw = new MqRawMechanism();
  static const SysvRawMechanism* const sysv_raw = new SysvRawMechanism();
  static const UdpRawMechanism* const udp_raw = new UdpRawMechanism();
  // Add a mechanism here (and its raw floor); rows appear in this order.
  static const std::vector<BenchTransport>* const table = new std::vector<BenchTransport>{
      {"uds", "unix", "", SocketFileInDir, SuffixedTarget, uds_raw, /*grpc=*/true},
      {"tcp", "tcp", "", LoopbackTcpAnyPort, ConsecutivePorts, tcp_raw, /*grpc=*/true},
      {"pipe", "stdio", "", SpawnSelfOnStdio, NoRemotePipePeers, pipe_raw, /*grpc=*/false,
       /*client_spawns_server=*/true},
      {"fifo", "fifo", "", FifoDirInDir, SuffixedTarget, fifo_raw, /*grpc=*/false},
      {"udp", "udp", "", LoopbackUdpAnyPort, UdpConsecutivePorts, udp_raw, /*grpc=*/false},
      // The default wake-up (spin, then futex) first, then the lowest-latency one.
      FERRY_SHM_ROW(memfd, futex), FERRY_SHM_ROW(memfd, spin), FERRY_SHM_ROW(memfd, eventfd),
      FERRY_SHM_ROW(memfd, signal), FERRY_SHM_ROW(shm, futex),   FERRY_SHM_ROW(shm, spin),
      FERRY_SHM_ROW(shm, eventfd),  FERRY_SHM_ROW(shm, signal),  FERRY_SHM_ROW(file, futex),
      FERRY_SHM_ROW(file, spin),    FERRY_SHM_ROW(file, eventfd), FERRY_SHM_ROW(file, signal),
      {"mq", "mq", "", QueueAddress<0>, SuffixedTarget, mq_raw, /*grpc=*/false},
      {"sysv", "sysv", "", QueueAddress<1>, SuffixedTarget, sysv_raw, /*grpc=*/false},
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
