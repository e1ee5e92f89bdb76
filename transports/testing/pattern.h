// Test payloads worth comparing byte for byte: every byte depends on the seed and on its
// position, so a misplaced, lost, repeated or interleaved piece shows up. Header-only,
// free of absl (the shm ring tests use it too).
#ifndef FERRY_TRANSPORTS_TESTING_PATTERN_H_
#define FERRY_TRANSPORTS_TESTING_PATTERN_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace ferry {

// `n` pseudo-random bytes, a different sequence for each `seed`.
inline std::string PatternBytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

}  // namespace ferry

#endif  // FERRY_TRANSPORTS_TESTING_PATTERN_H_
