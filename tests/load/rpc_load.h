// The RPC load suite: 64 concurrent clients x 10,000 calls against one server, on every
// transport. Every request carries its client id and sequence number and a payload derived
// from both; every reply is checked against its own request, so a reply that is lost,
// duplicated or delivered to the wrong call fails the test, and the server's memory (a
// child process, conformance_server) must stay flat between the end of a warm-up round
// and the end of the last round.
//
// A transport joins with the parameter it already has for the RPC conformance suite
// (tests/conformance/rpc_conformance.h), in a test that links ":rpc_load" and lists
// "//tests/conformance:conformance_server" in its data:
//
//   INSTANTIATE_TEST_SUITE_P(Uds, RpcLoad, testing::Values(ferry::conformance::UdsParam()),
//                            ferry::conformance::ParamName);
//
// Sizes (FERRY_LOAD_CLIENTS, FERRY_LOAD_CALLS override them): 64 clients x 10,000 calls;
// under sanitizers (FERRY_SANITIZER=asan|tsan, set by .bazelrc's test configs) the call
// count drops to 1,000 (asan) or 300 (tsan) per client so CI time holds, and the memory
// check is skipped (ASan's quarantine and TSan's shadow memory grow on their own; LSan and
// TSan check the server child instead, which must exit cleanly at the end).
#ifndef FERRY_TESTS_LOAD_RPC_LOAD_H_
#define FERRY_TESTS_LOAD_RPC_LOAD_H_

#include <gtest/gtest.h>

#include "tests/conformance/rpc_conformance.h"

namespace ferry::load {

class RpcLoad : public testing::TestWithParam<conformance::RpcConformanceParam> {};

}  // namespace ferry::load

#endif  // FERRY_TESTS_LOAD_RPC_LOAD_H_
