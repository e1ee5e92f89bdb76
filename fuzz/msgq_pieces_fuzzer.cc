// The message-queue transports' fragment reassembly (mq:// and sysv:// share it) under
// libFuzzer: the transports' own entry point (transports/msgq/piece.h, FuzzPieces: queue
// messages as (u16 length, message) records, demultiplexed by connection into Assemblers).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "transports/msgq/piece.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ferry::msgq::FuzzPieces(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
