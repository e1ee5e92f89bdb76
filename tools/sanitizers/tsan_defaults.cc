// Compiled into every binary of --config=tsan (see BUILD). TSAN_OPTIONS in the environment
// still overrides these.
//
// halt_on_error: the first race fails the process (a test, or a server child whose death
//   the test then sees).
extern "C" const char* __tsan_default_options() {
  return "halt_on_error=1:second_deadlock_stack=1:history_size=4";
}

extern "C" const char* __tsan_default_suppressions() {
  return
#include "tools/sanitizers/tsan_supp.inc"
      "";
}
