// Compiled into every binary of --config=asan (see BUILD). ASAN_OPTIONS / UBSAN_OPTIONS /
// LSAN_OPTIONS in the environment still override these.
//
// halt_on_error: the first report fails the process (UBSan: with -fno-sanitize-recover).
// detect_container_overflow=0: containers annotated in our code but grown or shrunk inside
//   the uninstrumented Debian protobuf/absl libraries would give false reports.
// detect_odr_violation=1: report a global defined twice only if the two sizes differ (the
//   system libraries and our binaries share some inline globals legitimately).
// No detect_stack_use_after_return: gcc 12's fake stack frames ignore alignas(64) (shm's
//   CallGate, WaitWord), which UBSan then reports as a misaligned access.
extern "C" const char* __asan_default_options() {
  return "halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1:"
         "strict_string_checks=1:detect_container_overflow=0:detect_odr_violation=1:"
         "print_summary=1:allocator_may_return_null=0";
}

extern "C" const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:print_summary=1";
}

extern "C" const char* __lsan_default_suppressions() {
  return
#include "tools/sanitizers/lsan_supp.inc"
      "";
}
