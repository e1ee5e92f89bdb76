// For tests: a private queue registry that is removed, with every queue it records, when
// the test process exits.
//
// Tests SIGKILL servers and clients on purpose; the transports leave the reclamation of
// what those processes owned to the next server of the same name, which a test never
// starts. UsePrivateRegistry() points $FERRY_MSGQ_DIR (read by msgq::RegistryDir(), and
// inherited by child servers) at a fresh directory under /tmp; at exit every mq queue and
// SysV queue recorded there is removed, then the directory. Call it before anything that
// listens or connects (e.g. from a test's main or a static initializer).
#ifndef FERRY_TRANSPORTS_MSGQ_TEST_REGISTRY_H_
#define FERRY_TRANSPORTS_MSGQ_TEST_REGISTRY_H_

namespace ferry::msgq {

void UsePrivateRegistry();

}  // namespace ferry::msgq

#endif  // FERRY_TRANSPORTS_MSGQ_TEST_REGISTRY_H_
