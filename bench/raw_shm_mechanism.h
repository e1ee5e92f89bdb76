// The raw floor for "shm": the shared-memory transport's own rings, set-up and wake-ups
// (transports/shm/raw_shm.h) with no Ferry framing or runtime, as a RawMechanism. A raw
// message's kind travels as the ring message's tag.
#ifndef FERRY_BENCH_RAW_SHM_MECHANISM_H_
#define FERRY_BENCH_RAW_SHM_MECHANISM_H_

#include <memory>

#include "bench/raw_peer.h"

namespace ferry::bench {

class ShmRawMechanism final : public RawMechanism {
 public:
  absl::StatusOr<std::unique_ptr<RawListener>> Listen(const Address& address) const override;
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Connect(const Address& address,
                                                       absl::Time deadline) const override;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_RAW_SHM_MECHANISM_H_
