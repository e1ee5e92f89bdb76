// The UDP transport's fragment reassembly under libFuzzer: the transport's own entry point
// (transports/udp/udp_wire.h, FuzzReassembler: (u16 length, datagram) records fed to a
// Reassembler with small limits, which checks its own invariants).
#include <cstddef>
#include <cstdint>

#include "transports/udp/udp_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ferry::udp::FuzzReassembler(data, size);
  return 0;
}
