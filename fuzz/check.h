// FUZZ_CHECK(cond) << "context": a failed property in a fuzz target. Prints the message and
// aborts, which libFuzzer reports as a crash and saves the input (and the replay main
// reports with the file name). Unlike assert() it is never compiled out.
#ifndef FERRY_FUZZ_CHECK_H_
#define FERRY_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

namespace ferry::fuzz {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond) {
    os_ << file << ":" << line << ": FUZZ_CHECK(" << cond << ") failed: ";
  }
  [[noreturn]] ~CheckFailure() {
    std::fprintf(stderr, "%s\n", os_.str().c_str());
    std::abort();
  }
  template <typename T>
  CheckFailure& operator<<(const T& v) {
    os_ << v;
    return *this;
  }

 private:
  std::ostringstream os_;
};

}  // namespace ferry::fuzz

#define FUZZ_CHECK(cond) \
  if (cond) {            \
  } else                 \
    ::ferry::fuzz::CheckFailure(__FILE__, __LINE__, #cond)

#endif  // FERRY_FUZZ_CHECK_H_
