// A minimal PNG decoder for the report's screenshot test. Test-only.
//
// Decodes what headless Chromium writes: 8-bit greyscale, grey+alpha, RGB or RGBA, not
// interlaced. Anything else is refused with UNIMPLEMENTED rather than misread.
#ifndef FERRY_BENCH_REPORT_PNG_H_
#define FERRY_BENCH_REPORT_PNG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry::bench::report {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgba;  // 4 bytes per pixel, rows top to bottom

  const uint8_t* At(int x, int y) const { return &rgba[(static_cast<size_t>(y) * width + x) * 4]; }
};

// INVALID_ARGUMENT for a corrupt file (bad signature, CRC, chunk or zlib stream);
// UNIMPLEMENTED for valid PNGs outside the subset above.
absl::StatusOr<Image> DecodePng(absl::string_view bytes);

// Encodes 8-bit RGBA, unfiltered. For tests of the decoder.
std::string EncodePng(const Image& image);

}  // namespace ferry::bench::report

#endif  // FERRY_BENCH_REPORT_PNG_H_
