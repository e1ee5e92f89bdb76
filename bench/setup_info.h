// Facts about the machine and the build that a run records in Setup (results.h).
#ifndef FERRY_BENCH_SETUP_INFO_H_
#define FERRY_BENCH_SETUP_INFO_H_

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace ferry::bench {

// /proc/cpuinfo's first "model name" (or "unknown").
std::string CpuModel();
// Online CPUs.
int OnlineCores();
// "Linux 6.1.0-18-amd64" (uname -sr).
std::string KernelVersion();
std::string HostName();
// `git describe --always --dirty` run in `dir` when it is a git work tree, else "unknown".
std::string FerryVersion(const std::string& dir);
// ISO 8601 in UTC: "2024-05-01T12:34:56Z".
std::string IsoDateUtc(absl::Time t);
// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> AllowedCpus();

}  // namespace ferry::bench

#endif  // FERRY_BENCH_SETUP_INFO_H_
