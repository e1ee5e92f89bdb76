// Clock reads for the per-call path.
//
// absl::Now() costs ~50 ns on the reference VM (and now and then several hundred, when it
// re-calibrates the cycle counter it interpolates with): at a shared-memory round trip of
// ~0.4 us, each read was a tenth of the call. clock_gettime(CLOCK_REALTIME) through the
// vDSO costs ~23 ns and returns the same time base; the coarse clock (the last tick,
// 1-4 ms old) ~6 ns, plenty for the bound on a blocked send, which is seconds.
#ifndef FERRY_RUNTIME_CLOCK_H_
#define FERRY_RUNTIME_CLOCK_H_

#include <time.h>

#include "absl/time/time.h"

namespace ferry::internal {

// The wall-clock time, as absl::Now() would give it.
inline absl::Time Now() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return absl::TimeFromTimespec(ts);
}

// The wall-clock time as of the last timer tick (up to a few ms old), plus `seconds`
// (added to the timespec, without absl's out-of-line Time arithmetic): for deadlines of
// seconds that only bound a wait, computed once per call.
inline absl::Time CoarseNowPlusSeconds(int seconds) {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  ts.tv_sec += seconds;
  return absl::TimeFromTimespec(ts);
}

inline absl::Time CoarseNow() { return CoarseNowPlusSeconds(0); }

}  // namespace ferry::internal

#endif  // FERRY_RUNTIME_CLOCK_H_
