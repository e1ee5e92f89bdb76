// Test helpers shared by the shm tests: rendezvous names that do not collide, and
// payloads worth checking byte for byte. Header-only, free of absl.
#ifndef FERRY_TRANSPORTS_SHM_TEST_UTIL_H_
#define FERRY_TRANSPORTS_SHM_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace ferry::shm::testing {

// A random token, the same for the whole process. Rendezvous names are abstract sockets,
// shared by every process in the network namespace, and Bazel runs tests in parallel in
// separate pid namespaces (same pids): a name with the pid and this token is this
// process's own.
inline const std::string& Token() {
  static const std::string* token = [] {
    char hex[9];
    std::snprintf(hex, sizeof(hex), "%08x", static_cast<unsigned>(std::random_device{}()));
    return new std::string(hex);
  }();
  return *token;
}

// `n` pseudo-random bytes, a different sequence for each `seed`: a misplaced, lost or
// repeated piece of a payload shows up when it is compared.
inline std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 3;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

}  // namespace ferry::shm::testing

#endif  // FERRY_TRANSPORTS_SHM_TEST_UTIL_H_
