#include "bench/modes.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ferry::bench {
namespace {

constexpr int kMaxConsecutiveErrors = 10;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t ToNs(absl::Duration d) { return static_cast<uint64_t>(absl::ToInt64Nanoseconds(d)); }

// Sleeps until `when` (NowNs() clock): the kernel timer for the bulk, then a short spin,
// because a timer wake-up is late by tens of microseconds, which open-loop latency (measured
// from the intended send time) would charge to the peer.
void SleepUntil(uint64_t when) {
  constexpr uint64_t kSpinNs = 50'000;
  uint64_t now = NowNs();
  if (when > now + kSpinNs) {
    const uint64_t wake = when - kSpinNs;
    timespec ts{static_cast<time_t>(wake / 1'000'000'000u),
                static_cast<long>(wake % 1'000'000'000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
  }
  while (NowNs() < when) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
}

// Tells the user why the first call of a point failed (the count is in Result::errors).
void NoteFailure(Progress& progress, bool& noted, const absl::Status& s) {
  if (noted) return;
  noted = true;
  progress.Note(absl::StrCat("ferry-bench: call failed: ", s.ToString()));
}

Result NewResult(Mode mode, uint64_t size, int concurrency) {
  Result r;
  r.mode = std::string(ModeName(mode));
  r.size = size;
  r.concurrency = concurrency;
  return r;
}

}  // namespace

absl::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kLatency:
      return "latency";
    case Mode::kThroughput:
      return "throughput";
    case Mode::kOpenLoop:
      return "open_loop";
  }
  return "?";
}

absl::StatusOr<Mode> ParseMode(absl::string_view name) {
  for (Mode m : kAllModes) {
    if (ModeName(m) == name) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown mode \"", name, "\" (known: latency, throughput, open_loop)"));
}

const std::vector<double>& CurvePercentiles() {
  static const std::vector<double>* const points = new std::vector<double>{
      0,  5,  10, 15, 20, 25, 30, 35, 40, 45, 50,   55,   60,    65,     70, 75,
      80, 85, 90, 95, 96, 97, 98, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100};
  return *points;
}

void FillLatencyFigures(const Histogram& h, Result* result) {
  if (h.count() == 0) return;  // nothing measured: figures stay absent
  auto us = [&](double p) { return h.Percentile(p) / 1e3; };
  result->p50_us = us(50);
  result->p90_us = us(90);
  result->p99_us = us(99);
  result->p999_us = us(99.9);
  result->max_us = static_cast<double>(h.max()) / 1e3;
  result->mean_us = h.Mean() / 1e3;
  result->percentiles.clear();
  for (double p : CurvePercentiles()) result->percentiles.push_back({p, us(p)});
}

std::vector<absl::StatusOr<Result>> MeasureLatency(absl::Span<PeerClient* const> peers,
                                                   uint64_t size, const ModeOptions& options,
                                                   Progress& progress) {
  struct Slot {
    std::unique_ptr<Caller> caller;
    absl::Status setup;
    Result result;
    Histogram histogram;
    uint64_t warm_calls = 0;
    uint64_t warm_ns = 0;
    uint64_t busy_ns = 0;  // time inside measured calls (successful or not)
    int failures_in_row = 0;
    bool noted = false;
    bool done = false;
  };
  std::vector<Slot> slots(peers.size());
  for (size_t i = 0; i < peers.size(); ++i) {
    Slot& slot = slots[i];
    slot.result = NewResult(Mode::kLatency, size, 1);
    absl::StatusOr<std::unique_ptr<Caller>> caller = peers[i]->NewCaller(size);
    if (!caller.ok()) {
      slot.setup = caller.status();
      slot.done = true;
    } else {
      slot.caller = std::move(*caller);
    }
  }
  // The time limit bounds the measured calls; the warm-up gets a tenth of it on top, so a
  // slow row (gRPC at 1 MiB) still measures after warming up.
  const uint64_t limit_ns = ToNs(options.latency_time_limit);
  const double total = static_cast<double>((options.warmup + options.iterations) * slots.size());
  uint64_t total_done = 0;

  // One call on `slot`; false once the slot's connection seems dead.
  auto call = [&](Slot& slot, bool measured) {
    const uint64_t t0 = NowNs();
    const absl::Status s = slot.caller->Call();
    const uint64_t t1 = NowNs();
    ++total_done;
    progress.Set(static_cast<double>(total_done) / total);
    if (measured) {
      slot.busy_ns += t1 - t0;
    } else {
      ++slot.warm_calls;
      slot.warm_ns += t1 - t0;
    }
    if (!s.ok()) {
      ++slot.result.errors;
      NoteFailure(progress, slot.noted, s);
      if (++slot.failures_in_row >= kMaxConsecutiveErrors) slot.done = true;
      return;
    }
    slot.failures_in_row = 0;
    if (measured) slot.histogram.Record(t1 - t0);
  };
  // Warm-ups one after the other, then the measured calls in rounds, peer after peer, so
  // that a burst of load from elsewhere on the machine is shared by every row of the point
  // instead of landing on one of them.
  for (Slot& slot : slots) {
    while (!slot.done && slot.warm_calls < options.warmup && slot.warm_ns < limit_ns / 10) {
      call(slot, false);
    }
  }
  const uint64_t round = std::max<uint64_t>(1, std::min<uint64_t>(options.iterations, 200));
  for (bool any = true; any;) {
    any = false;
    for (Slot& slot : slots) {
      for (uint64_t k = 0; k < round && !slot.done; ++k) {
        call(slot, true);
        if (slot.histogram.count() + slot.result.errors >= options.iterations ||
            slot.busy_ns >= limit_ns) {
          slot.done = true;
        }
      }
      any = any || !slot.done;
    }
  }

  std::vector<absl::StatusOr<Result>> results;
  for (Slot& slot : slots) {
    if (!slot.setup.ok()) {
      results.push_back(slot.setup);
      continue;
    }
    FillLatencyFigures(slot.histogram, &slot.result);
    if (slot.busy_ns > 0) {
      slot.result.calls_per_s =
          static_cast<double>(slot.histogram.count()) / (static_cast<double>(slot.busy_ns) / 1e9);
    }
    results.push_back(std::move(slot.result));
  }
  return results;
}

namespace {

// One implementation's side of a throughput point, kept across its bursts.
struct ThroughputRow {
  PeerClient* peer = nullptr;
  absl::Status setup;
  struct Worker {
    std::unique_ptr<Caller> caller;
    Histogram histogram;
    uint64_t calls = 0;
    uint64_t errors = 0;
    absl::Status first_error;
    int failures_in_row = 0;  // across bursts: a dead connection stays dead
  };
  std::vector<Worker> workers;
  double cpu_s = 0;  // client + server, over the measured intervals
  bool cpu_known = true;
};

// One burst: every caller of `row` on its own thread, `warm_ns` of unmeasured calls, then
// `measure_ns` measured. The interval starts when every caller is warm, after both
// processes' CPU times are taken; it ends after the threads are joined.
void Burst(ThroughputRow& row, uint64_t warm_ns, uint64_t measure_ns,
           const std::function<void(double)>& on_progress) {
  std::mutex mu;
  std::condition_variable cv;
  size_t ready = 0;
  bool go = false;
  uint64_t start_ns = 0;
  std::vector<std::thread> threads;
  for (ThroughputRow::Worker& w : row.workers) {
    threads.emplace_back([&, wp = &w] {
      ThroughputRow::Worker& me = *wp;
      const uint64_t warm_until = NowNs() + warm_ns;
      while (me.failures_in_row < kMaxConsecutiveErrors && NowNs() < warm_until) {
        if (!me.caller->Call().ok()) break;
      }
      uint64_t start;
      {
        std::unique_lock<std::mutex> lock(mu);
        ++ready;
        cv.notify_all();
        cv.wait(lock, [&] { return go; });
        start = start_ns;
      }
      const uint64_t end = start + measure_ns;
      while (me.failures_in_row < kMaxConsecutiveErrors) {
        const uint64_t t0 = NowNs();
        if (t0 >= end) break;
        const absl::Status s = me.caller->Call();
        const uint64_t t1 = NowNs();
        if (t1 > end) break;  // straddles the end: outside the interval
        if (!s.ok()) {
          if (me.errors++ == 0) me.first_error = s;
          ++me.failures_in_row;
          continue;
        }
        me.failures_in_row = 0;
        me.histogram.Record(t1 - t0);
        ++me.calls;
      }
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return ready == threads.size(); });
  }
  absl::StatusOr<CpuTimes> server_before = row.peer->ServerCpu();
  const CpuTimes client_before = ProcessCpu();
  {
    std::lock_guard<std::mutex> lock(mu);
    start_ns = NowNs();
    go = true;
  }
  cv.notify_all();
  const uint64_t end_ns = start_ns + measure_ns;
  for (uint64_t now = NowNs(); now < end_ns; now = NowNs()) {
    on_progress(static_cast<double>(now - start_ns) / static_cast<double>(measure_ns));
    std::this_thread::sleep_for(
        std::chrono::nanoseconds(std::min<uint64_t>(end_ns - now, 50'000'000)));
  }
  for (std::thread& t : threads) t.join();
  const CpuTimes client_after = ProcessCpu();
  absl::StatusOr<CpuTimes> server_after = row.peer->ServerCpu();
  if (server_before.ok() && server_after.ok()) {
    row.cpu_s += (client_after.total_s() - client_before.total_s()) +
                 (server_after->total_s() - server_before->total_s());
  } else {
    row.cpu_known = false;
  }
}

}  // namespace

std::vector<absl::StatusOr<Result>> MeasureThroughput(absl::Span<PeerClient* const> peers,
                                                      uint64_t size, int concurrency,
                                                      const ModeOptions& options,
                                                      Progress& progress) {
  std::vector<ThroughputRow> rows(peers.size());
  for (size_t i = 0; i < peers.size(); ++i) {
    ThroughputRow& row = rows[i];
    row.peer = peers[i];
    row.workers.resize(static_cast<size_t>(std::max(concurrency, 1)));
    for (ThroughputRow::Worker& w : row.workers) {
      absl::StatusOr<std::unique_ptr<Caller>> caller = peers[i]->NewCaller(size);
      if (!caller.ok()) {
        row.setup = caller.status();
        break;
      }
      w.caller = std::move(*caller);
    }
  }
  const uint64_t duration_ns = ToNs(options.duration);
  const int bursts = std::max(1, options.throughput_bursts);
  const uint64_t burst_ns = duration_ns / static_cast<uint64_t>(bursts);
  const double steps = static_cast<double>(bursts) * static_cast<double>(rows.size());
  for (int b = 0; b < bursts; ++b) {
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!rows[i].setup.ok()) continue;
      const double done = static_cast<double>(b) * static_cast<double>(rows.size()) +
                          static_cast<double>(i);
      Burst(rows[i], b == 0 ? duration_ns / 10 : 0, burst_ns,
            [&](double f) { progress.Set((done + f) / steps); });
    }
  }

  std::vector<absl::StatusOr<Result>> results;
  for (ThroughputRow& row : rows) {
    if (!row.setup.ok()) {
      results.push_back(row.setup);
      continue;
    }
    Result result = NewResult(Mode::kThroughput, size, static_cast<int>(row.workers.size()));
    Histogram all;
    uint64_t calls = 0;
    bool noted = false;
    for (ThroughputRow::Worker& w : row.workers) {
      all.Merge(w.histogram);
      calls += w.calls;
      result.errors += w.errors;
      if (w.errors > 0) NoteFailure(progress, noted, w.first_error);
    }
    FillLatencyFigures(all, &result);
    const double seconds = static_cast<double>(burst_ns * static_cast<uint64_t>(bursts)) / 1e9;
    result.calls_per_s = static_cast<double>(calls) / seconds;
    result.mb_per_s = *result.calls_per_s * static_cast<double>(size) / 1e6;
    if (calls > 0 && row.cpu_known) {
      result.cpu_us_per_call = row.cpu_s * 1e6 / static_cast<double>(calls);
    }
    results.push_back(std::move(result));
  }
  return results;
}

absl::StatusOr<double> ClosedLoopRate(PeerClient& peer, uint64_t size, absl::Duration probe) {
  absl::StatusOr<std::unique_ptr<Caller>> caller = peer.NewCaller(size);
  if (!caller.ok()) return caller.status();
  for (int i = 0; i < 5; ++i) {
    if (absl::Status s = (*caller)->Call(); !s.ok()) return s;
  }
  const uint64_t start = NowNs();
  const uint64_t end = start + ToNs(probe);
  uint64_t calls = 0;
  uint64_t now = start;
  while (now < end) {
    if (absl::Status s = (*caller)->Call(); !s.ok()) return s;
    ++calls;
    now = NowNs();
  }
  return static_cast<double>(calls) / (static_cast<double>(now - start) / 1e9);
}

std::vector<absl::StatusOr<Result>> MeasureOpenLoop(absl::Span<PeerClient* const> peers,
                                                    uint64_t size, double rate,
                                                    const ModeOptions& options,
                                                    Progress& progress) {
  std::vector<absl::StatusOr<Result>> out;
  if (!(rate > 0)) {
    for (size_t i = 0; i < peers.size(); ++i) {
      out.push_back(absl::InvalidArgumentError("open loop needs a rate above 0"));
    }
    return out;
  }
  struct Slot {
    std::unique_ptr<Caller> caller;
    absl::Status setup;
    Result result;
    Histogram histogram;
    uint64_t measured_ns = 0;  // sum over slices: first intended send to last completion
    int failures_in_row = 0;
    bool noted = false;
    bool done = false;
  };
  std::vector<Slot> slots(peers.size());
  for (size_t i = 0; i < peers.size(); ++i) {
    Slot& slot = slots[i];
    slot.result = NewResult(Mode::kOpenLoop, size, 1);
    slot.result.offered_calls_per_s = rate;
    absl::StatusOr<std::unique_ptr<Caller>> caller = peers[i]->NewCaller(size);
    if (!caller.ok()) {
      slot.setup = caller.status();
      slot.done = true;
      continue;
    }
    slot.caller = std::move(*caller);
    const uint64_t warm_until = NowNs() + ToNs(options.duration) / 10;
    for (uint64_t n = 0; n < options.warmup && NowNs() < warm_until; ++n) {
      if (!slot.caller->Call().ok()) break;
    }
  }
  // Timer slack (50 us by default) would make every wake-up late by that much.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  // Each row's schedule is cut into slices, and the rows take turns slice by slice, so a
  // stall of the machine (this is measured on shared 2-core VMs) lands on every row alike
  // instead of wrecking whichever row happened to be running. Each slice is a fresh
  // schedule at the full rate; a slice that falls behind runs over its time until its
  // calls are sent, and is abandoned only when hopelessly late.
  const int slices = std::max(1, options.throughput_bursts);
  const uint64_t slice_ns = std::max<uint64_t>(1, ToNs(options.duration) / slices);
  const uint64_t planned = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::llround(rate * static_cast<double>(slice_ns) / 1e9)));
  const double interval_ns = 1e9 / rate;
  const double total = static_cast<double>(planned) * slices * static_cast<double>(slots.size());
  uint64_t total_done = 0;
  for (int slice = 0; slice < slices; ++slice) {
    for (Slot& slot : slots) {
      if (slot.done) continue;
      const uint64_t start = NowNs() + 200'000;
      const uint64_t give_up = start + slice_ns + std::max<uint64_t>(slice_ns, 1'000'000'000);
      uint64_t last_done = start;
      for (uint64_t i = 0; i < planned; ++i) {
        const uint64_t intended = start + static_cast<uint64_t>(static_cast<double>(i) * interval_ns);
        SleepUntil(intended);  // returns at once when behind schedule
        if (NowNs() > give_up) {
          slot.result.errors += planned - i;
          progress.Note(absl::StrCat("ferry-bench: open loop: ", planned - i, " of ", planned,
                                     " scheduled calls of a slice abandoned: the peer does not "
                                     "keep up with ", rate, " calls/s"));
          break;
        }
        const absl::Status s = slot.caller->Call();
        last_done = NowNs();
        ++total_done;
        progress.Set(static_cast<double>(total_done) / total);
        if (!s.ok()) {
          ++slot.result.errors;
          NoteFailure(progress, slot.noted, s);
          if (++slot.failures_in_row >= kMaxConsecutiveErrors) {
            slot.done = true;
            break;
          }
          continue;
        }
        slot.failures_in_row = 0;
        slot.histogram.Record(last_done - intended);
      }
      if (last_done > start) slot.measured_ns += last_done - start;
    }
  }
  ::prctl(PR_SET_TIMERSLACK, 0UL, 0, 0, 0);  // back to the default
  for (Slot& slot : slots) {
    if (!slot.setup.ok()) {
      out.push_back(slot.setup);
      continue;
    }
    FillLatencyFigures(slot.histogram, &slot.result);
    if (slot.measured_ns > 0) {
      slot.result.calls_per_s = static_cast<double>(slot.histogram.count()) /
                                (static_cast<double>(slot.measured_ns) / 1e9);
    }
    out.push_back(std::move(slot.result));
  }
  return out;
}

}  // namespace ferry::bench
