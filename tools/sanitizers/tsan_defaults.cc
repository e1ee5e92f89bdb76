// Compiled into every binary of --config=tsan (see BUILD). TSAN_OPTIONS in the environment
// still overrides these.
//
// halt_on_error: the first race fails the process (a test, or a server child whose death
//   the test then sees).
// ignore_noninstrumented_modules: memcpy/new/delete and other intercepted calls made
//   from inside the uninstrumented Debian libraries (absl, protobuf, gRPC, upb) are not
//   checked. Those libraries order such accesses with their own atomics, which TSan cannot
//   see, so every handover between their threads was reported (absl's deadlock detector,
//   absl::Status and Cord reps, gRPC's executor threads); none of it is Ferry's code.
extern "C" const char* __tsan_default_options() {
  return "halt_on_error=1:second_deadlock_stack=1:history_size=4:"
         "ignore_noninstrumented_modules=1";
}

extern "C" const char* __tsan_default_suppressions() {
  return
#include "tools/sanitizers/tsan_supp.inc"
      "";
}
