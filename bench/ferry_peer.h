// The Ferry peer: the generated ferry::bench::Bench stub against a Ferry server whose
// handlers run inline on the connection's reader thread (HandlerThread::kInline, the fast
// path), over any transport in ferry::DefaultTransports().
//
// Each Caller has its own Channel, hence its own connection (as each raw Caller has its
// own socket), and makes blocking calls without a deadline (none of the three
// implementations sets one, so none pays for timers). Message limits on both sides are
// raised to kMaxPayload plus framing.
#ifndef FERRY_BENCH_FERRY_PEER_H_
#define FERRY_BENCH_FERRY_PEER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bench/peer.h"

namespace ferry::bench {

// Serves the Bench service on `address` ("unix:/path", "tcp://host:port", ...).
absl::StatusOr<std::unique_ptr<PeerServer>> StartFerryServer(const std::string& address);

// The client half for a Ferry server at `address`. Does not connect yet.
absl::StatusOr<std::unique_ptr<PeerClient>> NewFerryPeerClient(const std::string& address);

}  // namespace ferry::bench

#endif  // FERRY_BENCH_FERRY_PEER_H_
