// The transport conformance suite: what every ferry::Transport must do, written once.
//
// Overview: a value-parameterised gtest (iceoryx2's "every communication channel must
// pass the test"). Each transport's test file instantiates it with a
// TransportConformanceParam naming the transport, how to make it, and how to make a fresh
// listen address. The suite covers frame round trips of every size class up to exactly
// max_frame_payload, many frames per Send(), concurrent senders, deadlines on both sides,
// a partial frame kept across a Receive() deadline, oversized and malformed frames, peer
// death, Close() from another thread, idempotent Close(), and listener life cycle.
//
// Tests that need to write raw bytes (a half frame, garbage) use `raw_connect`; transports
// that carry whole messages and so cannot have half a frame leave it empty, and those
// tests are skipped with `raw_skip_reason`.
//
// Example (transports/uds/uds_transport_test.cc):
//   INSTANTIATE_TEST_SUITE_P(
//       Uds, TransportConformanceTest,
//       ::testing::Values(TransportConformanceParam{
//           "Uds", [] { return std::make_unique<ferry::UdsTransport>(); },
//           [](const std::string& dir) { return "unix:" + dir + "/s.sock"; },
//           [](const std::string& addr) { return ConnectUnixSocket(addr.substr(5), ...); }}),
//       TransportConformanceName);
#ifndef FERRY_TRANSPORTS_TESTING_TRANSPORT_CONFORMANCE_H_
#define FERRY_TRANSPORTS_TESTING_TRANSPORT_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "transports/stream/fd.h"
#include "transports/transport.h"

namespace ferry {

struct TransportConformanceParam {
  // Names the instantiation in test output: letters, digits and '_' only.
  std::string name;
  // Makes the transport under test; called once per test, and both ends of every
  // connection in that test use the one object (as a server and channel sharing a
  // registry would).
  std::function<std::unique_ptr<Transport>()> make_transport;
  // Returns an address to Listen() on that nobody uses. `scratch_dir` is an empty
  // directory under /tmp, short enough for Unix socket paths, removed after the test.
  std::function<std::string(const std::string& scratch_dir)> listen_address;
  // Optional (byte-stream transports): connects a raw byte stream to the listener whose
  // address() is given and returns the fd the test writes raw bytes into.
  std::function<absl::StatusOr<UniqueFd>(const std::string& listener_address)> raw_connect;
  // Why the raw-byte tests do not apply, shown when `raw_connect` is empty.
  std::string raw_skip_reason = "the transport has no raw byte stream to write half a frame to";
  // Optional: returns why this instantiation cannot run on this machine (e.g. "no IPv6
  // loopback"), or "" to run. Non-empty skips every test with that message.
  std::function<std::string()> skip_reason;
};

// The suite. Instantiate with INSTANTIATE_TEST_SUITE_P(Name, TransportConformanceTest,
// ::testing::Values(param), TransportConformanceName).
class TransportConformanceTest : public ::testing::TestWithParam<TransportConformanceParam> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A listener, a client connection and the server end Accept() returned for it.
  struct Pair {
    std::unique_ptr<Listener> listener;
    std::unique_ptr<Connection> client;
    std::unique_ptr<Connection> server;
  };
  // Listens on a fresh address and connects one client. Fails the test (and returns empty
  // pointers) on error.
  Pair Connected(const ConnectionLimits& client_limits = {},
                 const ConnectionLimits& server_limits = {});
  std::unique_ptr<Listener> ListenFresh(const ConnectionLimits& limits = {});

  Transport& transport() { return *transport_; }
  const std::string& scratch_dir() const { return scratch_dir_; }

 private:
  std::unique_ptr<Transport> transport_;
  std::string scratch_dir_;
};

// Test-name generator for INSTANTIATE_TEST_SUITE_P: the param's `name`.
std::string TransportConformanceName(
    const ::testing::TestParamInfo<TransportConformanceParam>& info);

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_TESTING_TRANSPORT_CONFORMANCE_H_
