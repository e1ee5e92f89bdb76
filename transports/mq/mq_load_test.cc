// The load suite (tests/load/rpc_load.h) over mq://: 64 clients, each with its own reply
// queue, against one conformance_server child on one request queue.
//
// Every queue's bytes count against the user's RLIMIT_MSGQUEUE, for all of the user's
// queues together (docs/mq-transports.md, "queue sizing"). Before any test this binary
// raises its soft limit where it may (the server child inherits it), then creates, and
// removes again, queues of exactly the sizes the suite's server and clients will get. If
// they do not fit — other processes of this user hold the memory, or the limit is lower
// than the default — every test is skipped, saying how far it got.
#include <fcntl.h>
#include <mqueue.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/load/rpc_load.h"
#include "transports/mq/mq_rpc_param.h"
#include "transports/mq/mq_transport.h"

namespace ferry::conformance {
// rpc_conformance (linked for its parameters and ChildServer) defines the conformance
// suite, which this binary does not run.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RpcConformance);
}  // namespace ferry::conformance

namespace ferry::load {
namespace {

int Clients() {
  const char* v = std::getenv("FERRY_LOAD_CLIENTS");  // as rpc_load.cc reads it
  int n = 0;
  return v != nullptr && absl::SimpleAtoi(v, &n) && n > 0 ? n : 64;
}

// What the suite needs, tried for real: one request queue and a reply queue per client.
class QueueMemory : public testing::Environment {
 public:
  void SetUp() override {
    rlimit rl{};
    ::getrlimit(RLIMIT_MSGQUEUE, &rl);
    std::string raised = "not raised";
    // Enough for full-size queues (msg_max messages of msgsize_max) for every client; more
    // than the hard limit needs CAP_SYS_RESOURCE, so the hard limit is the fallback.
    const mq::MqLimits lim = mq::ReadMqLimits();
    const rlim_t want = static_cast<rlim_t>(Clients() + 1) * static_cast<rlim_t>(
        std::max(lim.msg_max, 10L) * (std::max(lim.msgsize_max, 8192L) + 128));
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
      rlimit up = rl;
      up.rlim_cur = want;
      if (up.rlim_max != RLIM_INFINITY && up.rlim_max < want) up.rlim_max = want;
      if (::setrlimit(RLIMIT_MSGQUEUE, &up) == 0) {
        raised = absl::StrCat("raised to ", want);
      } else if (rl.rlim_max > rl.rlim_cur) {
        up = rl;
        up.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_MSGQUEUE, &up) == 0) raised = absl::StrCat("raised to ", up.rlim_cur);
      } else {
        raised = absl::StrCat("not raised: ", std::strerror(errno), " (needs CAP_SYS_RESOURCE)");
      }
    }
    ::getrlimit(RLIMIT_MSGQUEUE, &rl);
    const std::string base = absl::StrCat("/ferry.load-probe-", ::getpid(), "-");
    std::vector<std::string> made;
    std::string failure;
    for (int i = 0; i <= Clients(); ++i) {
      const std::string name = absl::StrCat(base, i);
      absl::StatusOr<mqd_t> q =
          mq::CreateMqd(name, 0, 0, O_RDONLY, i == 0 ? mq::kServerQueueShare
                                                     : mq::kClientQueueShare);
      if (!q.ok()) {
        failure = i == 0 ? absl::StrCat("the server's request queue: ", q.status().ToString())
                         : absl::StrCat("reply queue ", i, " of ", Clients(), ": ",
                                        q.status().ToString());
        break;
      }
      ::mq_close(*q);
      made.push_back(name);
    }
    for (const std::string& name : made) ::mq_unlink(name.c_str());
    summary_ = absl::StrCat("RLIMIT_MSGQUEUE ", rl.rlim_cur, " bytes (", raised, "), ",
                            Clients(), " clients");
    std::printf("mq load: %s\n", summary_.c_str());
    if (!failure.empty()) {
      GTEST_SKIP() << "SKIPPED: mq:// cannot hold the load suite's queues here: " << summary_
                   << "; " << failure << ". Raise the limit (ulimit -q) or free this user's "
                   << "queues to run it";
    }
  }

 private:
  std::string summary_;
};

const testing::Environment* const queue_memory =
    testing::AddGlobalTestEnvironment(new QueueMemory);

INSTANTIATE_TEST_SUITE_P(Mq, RpcLoad, testing::Values(conformance::MqParam("load")),
                         conformance::ParamName);

}  // namespace
}  // namespace ferry::load
