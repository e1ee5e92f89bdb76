// Test helpers shared by the shm tests: rendezvous names that do not collide.
// Header-only, free of absl.
#ifndef FERRY_TRANSPORTS_SHM_TEST_UTIL_H_
#define FERRY_TRANSPORTS_SHM_TEST_UTIL_H_

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

}  // namespace ferry::shm::testing

#endif  // FERRY_TRANSPORTS_SHM_TEST_UTIL_H_
