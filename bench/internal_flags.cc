// Flags for the server processes ferry-bench starts itself; not shown by --help (only
// main.cc's flags are), listed by --helpfull.
#include "absl/flags/flag.h"

ABSL_FLAG(bool, internal_child, false,
          "internal: this process is a server started by a ferry-bench driver on this "
          "machine; exit when the driver does");
ABSL_FLAG(int, internal_cpu, -1, "internal: pin this process to this CPU");
