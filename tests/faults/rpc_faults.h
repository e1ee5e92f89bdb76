// The fault suite: processes die with SIGKILL at random points, and Ferry must cope.
//   - Clients killed (client processes running a random mix of calls, tests/faults/
//     fault_client): the server keeps serving a survivor client without a single failed
//     call, serves new clients, and nothing the dead clients made is left behind.
//   - Server killed (while this process's clients are mid-call, some in long calls): every
//     survivor's call ends with UNAVAILABLE (not DEADLINE_EXCEEDED: before its deadline),
//     later calls too; nothing is left behind but what the transport documents for a killed
//     listener (a Unix socket's file), which the next server on the address reclaims; after
//     that server's graceful exit nothing at all is left.
// Every run draws its kill points from a seed, printed with the transport and sizes on
// every failure; FERRY_FAULT_SEED=<seed> replays it.
//
// A transport joins with its conformance parameter plus how to list the Ferry objects
// (files, shm objects, queues, FIFOs, listening sockets) that exist for one address and
// set of processes, so parallel tests never see each other's:
//
//   INSTANTIATE_TEST_SUITE_P(Uds, RpcFaults, testing::Values(ferry::faults::UdsFaultParam()),
//                            ferry::faults::FaultParamName);
//
// Tests that link ":rpc_faults" list "//tests/conformance:conformance_server" and
// "//tests/faults:fault_client" in their data.
#ifndef FERRY_TESTS_FAULTS_RPC_FAULTS_H_
#define FERRY_TESTS_FAULTS_RPC_FAULTS_H_

#include <gtest/gtest.h>
#include <sys/types.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/conformance/rpc_conformance.h"

namespace ferry::faults {

struct FaultParam {
  // name, make_address, rebind_address (cross_process must be true).
  conformance::RpcConformanceParam rpc;
  // The Ferry objects that exist now for `bound_address` and the processes `pids` (the
  // server's and clients'), one human-readable line each ("socket file /tmp/x/s.sock",
  // "/dev/shm/ferry-shm.12.0.99"). Empty when nothing is left.
  std::function<std::vector<std::string>(const std::string& bound_address,
                                         const std::vector<pid_t>& pids)>
      leftovers;
  // What a listener killed with SIGKILL leaves by nature until the next server binds the
  // same address (a Unix socket's file); may be empty.
  std::function<std::vector<std::string>(const std::string& bound_address)>
      left_by_killed_server;
};

std::string FaultParamName(const testing::TestParamInfo<FaultParam>& info);
inline void PrintTo(const FaultParam& p, std::ostream* os) { *os << p.rpc.name; }

class RpcFaults : public testing::TestWithParam<FaultParam> {};

// Ready-made parameters for the built-in cross-process transports.
FaultParam UdsFaultParam();
FaultParam TcpFaultParam();
FaultParam ShmFaultParam(const std::string& backing, const std::string& wake);

// Listing helpers for transports' leftovers() functions.
// Files in `dir` whose names start with `prefix` (e.g. "/dev/shm", "ferry-shm.<pid>.").
std::vector<std::string> FilesWithPrefix(const std::string& dir, const std::string& prefix);
// Listening abstract Unix sockets named `name` ("ferry-shm/x"), from /proc/net/unix.
std::vector<std::string> AbstractSockets(const std::string& name);

}  // namespace ferry::faults

#endif  // FERRY_TESTS_FAULTS_RPC_FAULTS_H_
