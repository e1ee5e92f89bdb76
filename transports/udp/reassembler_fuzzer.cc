// libFuzzer entry point for the UDP reassembler: arbitrary bytes are read as a sequence
// of (u16 length, datagram) records and fed to a Reassembler with small limits.
//   clang++ -fsanitize=fuzzer,address ... reassembler_fuzzer.cc udp_wire.cc
#include <cstddef>
#include <cstdint>

#include "transports/udp/udp_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ferry::udp::FuzzReassembler(data, size);
  return 0;
}
