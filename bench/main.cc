// ferry-bench: the same generated remote call over every transport, side by side with the
// bare mechanism (raw) and gRPC, in one run. See bench/README.md.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_split.h"
#include <algorithm>
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bench/driver.h"
#include "bench/modes.h"
#include "bench/options.h"
#include "bench/output.h"
#include "bench/progress.h"
#include "bench/report_html.h"
#include "bench/results.h"
#include "bench/serve.h"
#include "bench/setup_info.h"
#include "bench/transports.h"

ABSL_FLAG(std::string, transports, "all",
          "comma-separated mechanisms to measure, e.g. uds,tcp (an unknown name lists the "
          "known ones), or \"all\"");
ABSL_FLAG(std::string, variants, "",
          "keep only variant rows matching key=value items: keys must all match, values of one "
          "key are alternatives, e.g. backing=memfd,wake=spin,wake=futex; rows without a "
          "variant always stay");
ABSL_FLAG(std::string, impls, "ferry,raw,grpc",
          "implementations per mechanism: ferry (the generated Ferry stub), raw (the bare "
          "mechanism, no RPC layer: the floor), rawpb (the bare mechanism carrying the call's "
          "protobuf work, serialized into and parsed from buffers: marshalling with no RPC "
          "layer; not in the default), grpc (grpc++ "
          "over the same mechanism, where gRPC runs)");
ABSL_FLAG(std::string, modes, "latency,throughput,open_loop",
          "latency (closed loop, one call in flight), throughput (N callers for --duration), "
          "open_loop (fixed --rate, latency from the intended send time)");
ABSL_FLAG(std::string, sizes, "64,4k,64k,1m", "payload sizes each way: 64, 4k, 64k, 1m, ...");
ABSL_FLAG(uint64_t, iterations, 10000, "latency mode: measured calls per point");
ABSL_FLAG(int64_t, warmup, -1,
          "latency and open-loop modes: unmeasured calls before each point; -1: "
          "max(10, iterations / 10)");
ABSL_FLAG(double, latency_time_limit, 10,
          "latency mode: seconds after which a point stops early (fewer calls, recorded)");
ABSL_FLAG(double, duration, 1, "throughput and open-loop modes: seconds per point");
ABSL_FLAG(std::string, concurrency, "1,2,4,8,16", "throughput mode: callers in flight");
ABSL_FLAG(int, throughput_bursts, 5,
          "throughput mode: each row's --duration is split into this many bursts, the rows "
          "of a point taking turns (1: one continuous run per row)");
ABSL_FLAG(std::string, rate, "50%",
          "open-loop mode: the offered rate, the same for every implementation of a point: "
          "calls per second (e.g. 5000), or a percentage of the closed-loop calls/s of the "
          "point's slowest implementation, probed before each point (e.g. 50%)");
ABSL_FLAG(bool, pin, false,
          "pin the client to one CPU and local servers to another (sched_setaffinity); "
          "recorded in the output. With --serve: pin the servers to the last CPU");
ABSL_FLAG(std::string, json, "", "write the results as JSON here (schema: bench/README.md)");
ABSL_FLAG(std::string, csv, "", "write the results as CSV here");
ABSL_FLAG(std::string, html, "", "write the HTML report here");
ABSL_FLAG(std::string, out_dir, "",
          "directory for the JSON, CSV and HTML files not named by --json/--csv/--html; "
          "default: bench-results/<date-time> in the workspace (bazel run) or the current "
          "directory");
ABSL_FLAG(std::string, connect, "",
          "measure the peers of a `ferry-bench --serve` on another machine: the Ferry "
          "peer's address, e.g. tcp://10.0.0.2:7000 (raw and grpc peers are found from it "
          "as --serve placed them). Measures that one mechanism; --transports is ignored");
ABSL_FLAG(std::string, serve, "",
          "serve instead of measuring, e.g. tcp://0.0.0.0:7000, until SIGTERM/SIGINT. Each "
          "--serve_impl runs in its own process: ferry on the address, raw, grpc and rawpb "
          "on the next three ports (unix: paths get .raw, .grpc and .rawpb appended). Prints "
          "\"serving <impl> on <address>\" per implementation");
ABSL_FLAG(std::string, serve_impl, "ferry,raw,grpc",
          "with --serve: what to serve (add rawpb for a client measuring it)");

ABSL_DECLARE_FLAG(bool, internal_child);
ABSL_DECLARE_FLAG(int, internal_cpu);

namespace ferry::bench {
namespace {

constexpr char kUsage[] =
    "ferry-bench: the same generated remote call over every transport, next to the bare\n"
    "mechanism (raw) and gRPC, measured in one run.\n"
    "\n"
    "  ferry-bench [--transports=uds,tcp] [--modes=latency,throughput,open_loop]\n"
    "              [--sizes=64,4k,64k,1m] [--pin] [--out_dir=DIR | --json=F --csv=F --html=F]\n"
    "\n"
    "Local mode (default): each server runs in a child process ferry-bench starts and stops.\n"
    "Across machines: on the server `ferry-bench --serve=tcp://0.0.0.0:7000`, on the client\n"
    "`ferry-bench --connect=tcp://<server>:7000`.\n"
    "Tables go to stdout; JSON, CSV and HTML files to --out_dir (or the paths given).";

int Fail(const std::string& message) {
  std::cerr << "ferry-bench: " << message << std::endl;
  return 2;
}

bool Pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

std::string SelfPath() {
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "/proc/self/exe" : p.string();
}

// Where relative defaults live: the workspace under `bazel run`, else the current dir.
std::string BaseDir() {
  const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  if (ws != nullptr && *ws != '\0') return ws;
  std::error_code ec;
  const std::filesystem::path cwd = std::filesystem::current_path(ec);
  return ec ? "." : cwd.string();
}

// The local servers' socket directory. Removed on destruction, and by a signal thread if
// SIGINT or SIGTERM ends the run early (the servers exit with us: PR_SET_PDEATHSIG).
class ScratchDir {
 public:
  ScratchDir() = default;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }

  // Must run before any other thread starts, so that all of them inherit the blocked
  // signals and only the signal thread takes them.
  absl::Status Create() {
    char dir[] = "/tmp/ferry-bench-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      return absl::InternalError("cannot create a directory /tmp/ferry-bench-XXXXXX");
    }
    path_ = dir;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::thread([signals, path = path_] {
      int sig = 0;
      sigwait(&signals, &sig);
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
      std::fprintf(stderr, "\nferry-bench: interrupted\n");
      _exit(128 + sig);
    }).detach();
    return absl::OkStatus();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

int Main(int argc, char** argv) {
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "bench/main.cc");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(kUsage);
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) return Fail(absl::StrCat("unexpected argument \"", rest[1], "\""));
  signal(SIGPIPE, SIG_IGN);

  if (const int cpu = absl::GetFlag(FLAGS_internal_cpu); cpu >= 0 && !Pin(cpu)) {
    return Fail(absl::StrCat("cannot pin to CPU ", cpu));
  }

  if (!absl::GetFlag(FLAGS_serve).empty()) {
    ServeOptions serve;
    serve.address = absl::GetFlag(FLAGS_serve);
    serve.child = absl::GetFlag(FLAGS_internal_child);
    serve.self = SelfPath();
    for (const std::string& name : SplitList(absl::GetFlag(FLAGS_serve_impl))) {
      absl::StatusOr<Impl> impl = ParseImpl(name);
      if (!impl.ok()) return Fail(absl::StrCat("--serve_impl: ", impl.status().message()));
      serve.impls.push_back(*impl);
    }
    if (absl::GetFlag(FLAGS_pin) && !serve.child) {
      const std::vector<int> cpus = AllowedCpus();
      if (!cpus.empty() && !Pin(cpus.back())) return Fail("cannot pin the server");
    }
    return Serve(serve);
  }

  DriverOptions options;
  options.self = SelfPath();
  options.connect = absl::GetFlag(FLAGS_connect);
  const std::string transports = absl::GetFlag(FLAGS_transports);
  if (transports == "all") {
    for (const BenchTransport& t : BenchTransports()) options.transports.push_back(&t);
  } else {
    for (const std::string& name : SplitList(transports)) {
      const BenchTransport* t = FindTransportByName(name);
      // A name selects all its rows (shm: every backing x wake-up variant).
      for (const BenchTransport& b : BenchTransports()) {
        if (t != nullptr && b.name == name) options.transports.push_back(&b);
      }
      if (t == nullptr) {
        std::vector<std::string> known;
        for (const BenchTransport& b : BenchTransports()) known.emplace_back(b.name);
        return Fail(absl::StrCat("--transports: unknown mechanism \"", name, "\" (known: ",
                                 absl::StrJoin(known, ", "), ")"));
      }
    }
  }
  // --variants=key=value,...: for every key named, a row's variant must have one of the
  // values given for it (backing=memfd,wake=spin,wake=futex: memfd rows that spin or use
  // futexes). Rows without a variant always stay.
  const std::vector<std::string> wanted = SplitList(absl::GetFlag(FLAGS_variants));
  if (!wanted.empty()) {
    absl::flat_hash_map<std::string, std::vector<std::string>> allowed;
    for (const std::string& kv : wanted) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Fail(absl::StrCat("--variants: \"", kv, "\" is not key=value"));
      }
      allowed[kv.substr(0, eq)].push_back(kv.substr(eq + 1));
    }
    std::vector<const BenchTransport*> kept;
    for (const BenchTransport* t : options.transports) {
      bool keep = true;
      if (!t->variant.empty()) {
        absl::flat_hash_map<std::string, std::string> have;
        for (absl::string_view kv : absl::StrSplit(t->variant, ',')) {
          const size_t eq = kv.find('=');
          have[std::string(kv.substr(0, eq))] =
              eq == absl::string_view::npos ? "" : std::string(kv.substr(eq + 1));
        }
        for (const auto& [key, values] : allowed) {
          auto it = have.find(key);
          keep = keep && it != have.end() &&
                 std::find(values.begin(), values.end(), it->second) != values.end();
        }
      }
      if (keep) kept.push_back(t);
    }
    options.transports = std::move(kept);
  }
  for (const std::string& name : SplitList(absl::GetFlag(FLAGS_impls))) {
    absl::StatusOr<Impl> impl = ParseImpl(name);
    if (!impl.ok()) return Fail(absl::StrCat("--impls: ", impl.status().message()));
    options.impls.push_back(*impl);
  }
  for (const std::string& name : SplitList(absl::GetFlag(FLAGS_modes))) {
    absl::StatusOr<Mode> mode = ParseMode(name);
    if (!mode.ok()) return Fail(absl::StrCat("--modes: ", mode.status().message()));
    options.modes.push_back(*mode);
  }
  absl::StatusOr<std::vector<uint64_t>> sizes =
      ParseSizeList(absl::GetFlag(FLAGS_sizes), kMaxPayload);
  if (!sizes.ok()) return Fail(absl::StrCat("--sizes: ", sizes.status().message()));
  options.sizes = *sizes;
  absl::StatusOr<std::vector<int>> concurrency =
      ParseIntList(absl::GetFlag(FLAGS_concurrency), 1024);
  if (!concurrency.ok()) {
    return Fail(absl::StrCat("--concurrency: ", concurrency.status().message()));
  }
  options.concurrency = *concurrency;
  if (options.transports.empty() || options.impls.empty() || options.modes.empty()) {
    return Fail("nothing to measure: --transports, --impls and --modes must each name something");
  }
  ModeOptions& m = options.mode_options;
  m.iterations = absl::GetFlag(FLAGS_iterations);
  const int64_t warmup = absl::GetFlag(FLAGS_warmup);
  m.warmup = warmup >= 0 ? static_cast<uint64_t>(warmup) : std::max<uint64_t>(10, m.iterations / 10);
  const double duration = absl::GetFlag(FLAGS_duration);
  const double limit = absl::GetFlag(FLAGS_latency_time_limit);
  {
    const std::string rate = absl::GetFlag(FLAGS_rate);
    absl::string_view number = rate;
    const bool relative = absl::ConsumeSuffix(&number, "%");
    double v = 0;
    if (!absl::SimpleAtod(number, &v) || !(v > 0) || (relative && v > 1000)) {
      return Fail(absl::StrCat("--rate: expected calls/s above 0 or a percentage such as 50%, "
                               "not \"", rate, "\""));
    }
    m.rate = relative ? 0 : v;
    m.load = relative ? v / 100 : 0;
  }
  if (m.iterations == 0) return Fail("--iterations must be at least 1");
  if (!(duration > 0) || !(limit > 0)) {
    return Fail("--duration and --latency_time_limit must be above 0");
  }
  m.duration = absl::Seconds(duration);
  m.throughput_bursts = absl::GetFlag(FLAGS_throughput_bursts);
  if (m.throughput_bursts < 1) return Fail("--throughput_bursts must be at least 1");
  m.latency_time_limit = absl::Seconds(limit);

  BenchReport report;
  Setup& setup = report.setup;
  setup.pinning = "none";
  if (absl::GetFlag(FLAGS_pin)) {
    const std::vector<int> cpus = AllowedCpus();
    if (cpus.empty()) return Fail("--pin: no CPU to pin to");
    const int client = cpus[0];
    if (!Pin(client)) return Fail(absl::StrCat("--pin: cannot pin to CPU ", client));
    if (options.connect.empty()) {
      options.server_cpu = cpus.size() > 1 ? cpus[1] : cpus[0];
      setup.pinning = absl::StrCat("client=cpu", client, " server=cpu", options.server_cpu);
    } else {
      setup.pinning = absl::StrCat("client=cpu", client, " server=remote");
    }
  }
  const std::string base_dir = BaseDir();
  setup.cpu_model = CpuModel();
  setup.cores = OnlineCores();
  setup.kernel = KernelVersion();
  setup.hostname = HostName();
  setup.location = options.connect.empty() ? "local" : absl::StrCat("remote ", options.connect);
  setup.sizes = options.sizes;
  setup.concurrency = options.concurrency;
  setup.iterations = m.iterations;
  setup.warmup = m.warmup;
  setup.duration_s = duration;
  setup.open_loop_rate = m.rate;
  setup.open_loop_load = m.load;
  for (Mode mode : options.modes) setup.modes.emplace_back(ModeName(mode));
  setup.ferry_version = FerryVersion(base_dir);
  const absl::Time started = absl::Now();
  setup.date = IsoDateUtc(started);

  absl::StatusOr<std::vector<Result>> results;
  {
    ScratchDir scratch;
    if (options.connect.empty()) {
      absl::Status s = scratch.Create();
      if (!s.ok()) return Fail(s.ToString());
      options.scratch_dir = scratch.path();
    }
    Progress progress(Progress::StderrIsTerminal());
    results = RunBenchmarks(options, progress);
  }
  if (!results.ok()) return Fail(results.status().ToString());
  report.results = std::move(*results);
  std::cout << FormatTables(report) << std::flush;

  std::string json = absl::GetFlag(FLAGS_json);
  std::string csv = absl::GetFlag(FLAGS_csv);
  std::string html = absl::GetFlag(FLAGS_html);
  if (json.empty() || csv.empty() || html.empty()) {
    std::string dir = absl::GetFlag(FLAGS_out_dir);
    if (dir.empty()) {
      dir = absl::StrCat(base_dir, "/bench-results/",
                         absl::FormatTime("%Y%m%d-%H%M%S", started, absl::LocalTimeZone()));
    }
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Fail(absl::StrCat("cannot create ", dir, ": ", ec.message()));
    if (json.empty()) json = dir + "/results.json";
    if (csv.empty()) csv = dir + "/results.csv";
    if (html.empty()) html = dir + "/report.html";
  }
  for (const auto& [path, contents] :
       {std::pair{json, ToJson(report)}, std::pair{csv, ToCsv(report)},
        std::pair{html, RenderHtmlReport(report)}}) {
    if (absl::Status s = WriteFile(path, contents); !s.ok()) return Fail(s.ToString());
  }
  std::cout << "JSON: " << json << "\nCSV: " << csv << "\nHTML report: " << html << std::endl;

  // A floor (raw or gRPC) that the machine's limits kept from being set up (RESOURCE_EXHAUSTED:
  // e.g. raw mq's two queues per connection against the per-user RLIMIT_MSGQUEUE at 16
  // callers) leaves its cell empty and is reported, but does not fail the run: Ferry's rows,
  // which are what is being measured, all ran. Any other failure does.
  uint64_t errors = 0, floors_unavailable = 0;
  for (const Result& r : report.results) {
    if (r.impl != "ferry" && r.setup_error.code() == absl::StatusCode::kResourceExhausted) {
      ++floors_unavailable;
    } else {
      errors += r.errors;
    }
  }
  if (floors_unavailable > 0) {
    std::cerr << "ferry-bench: " << floors_unavailable
              << " raw/gRPC points could not be set up within this machine's limits "
                 "(RESOURCE_EXHAUSTED, above); their cells are empty" << std::endl;
  }
  if (errors > 0) {
    std::cerr << "ferry-bench: " << errors << " calls failed (see the errors column)" << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) { return ferry::bench::Main(argc, argv); }
