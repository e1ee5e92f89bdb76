// A client for the fault suite, run in its own process so the test can SIGKILL it at a
// random point: --threads threads make calls over one channel to --address as fast as they
// can (echoes of random sizes up to 256 KiB, short Sleeps, async echoes), forever. Prints
// "ready" once every thread has completed a call. Errors are ignored (the test judges the
// server, not this client), except that it exits 3 if no call at all succeeds in 10 s.
#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "runtime/channel.h"
#include "tests/conformance/conformance.ferry.h"
#include "transports/default_transports.h"

ABSL_FLAG(std::string, address, "", "server address");
ABSL_FLAG(uint32_t, seed, 1, "seed of the call mix");
ABSL_FLAG(int, threads, 2, "calling threads");

using ferry::conformance::Conformance;

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto channel = ferry::Channel::Create(absl::GetFlag(FLAGS_address), ferry::DefaultTransports());
  if (!channel.ok()) {
    std::fprintf(stderr, "fault_client: %s\n", channel.status().ToString().c_str());
    return 2;
  }
  Conformance::Stub stub(*channel);
  const int n = absl::GetFlag(FLAGS_threads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(absl::GetFlag(FLAGS_seed) * 1000 + t);
      bool counted = false;
      for (;;) {
        ferry::ClientContext ctx;
        ctx.set_timeout(absl::Seconds(5));
        absl::Status s;
        switch (rng() % 4) {
          case 0: {
            ferry::conformance::SleepRequest req;
            req.set_ms(rng() % 20);
            s = stub.Sleep(ctx, req).status();
            break;
          }
          case 1: {
            ferry::conformance::EchoRequest req;
            req.set_payload(std::string(rng() % (256 << 10), 'p'));
            s = stub.Echo(ctx, req).status();
            break;
          }
          default: {
            ferry::conformance::EchoRequest req;
            req.set_payload(std::string(rng() % 512, 'q'));
            s = stub.Echo(ctx, req).status();
            break;
          }
        }
        if (s.ok() && !counted) {
          counted = true;
          if (ready.fetch_add(1) + 1 == n) {
            std::printf("ready\n");
            std::fflush(stdout);
          }
        }
      }
    });
  }
  absl::SleepFor(absl::Seconds(10));
  if (ready.load() < n) return 3;
  for (std::thread& t : threads) t.join();  // never: the test kills us
  return 0;
}
