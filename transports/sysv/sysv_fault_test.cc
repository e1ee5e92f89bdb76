// The fault suite (tests/faults/rpc_faults.h) over sysv://: clients and the server
// SIGKILLed at random points.
//
// What sysv:// leaves for an address "sysv://<name>" (transports/sysv/sysv_transport.h):
// the server's one queue (msgget(IPC_PRIVATE), no name) and its registry record
// "sysv.<name>.server", which holds the queue's id. Clients make no queue; a connection is
// a reply type on the server's queue, so what a killed client can leave is messages of its
// type there. Ids are remembered once seen, so a queue that outlives its record is found
// too, as is any 0600 queue of ours that these processes last sent to or received from
// (/proc/sysvipc/msg). A killed server leaves its queue and record until the next Listen()
// of the name reclaims them.
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/faults/rpc_faults.h"
#include "transports/msgq/process.h"
#include "transports/sysv/sysv_rpc_param.h"

namespace ferry::conformance {
// rpc_conformance (linked for its parameters and ChildServer) defines the conformance
// suite, which this binary does not run.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RpcConformance);
}  // namespace ferry::conformance

namespace ferry::faults {
namespace {

// "sysv://<name>" -> "<name>".
std::string NameOf(const std::string& bound) { return bound.substr(bound.find("//") + 2); }

std::string RecordFile(const std::string& bound) {
  return absl::StrCat("sysv.", NameOf(bound), ".server");
}

std::string RecordLine(const std::string& file) {
  absl::StatusOr<std::string> dir = msgq::RegistryDir();
  return absl::StrCat("registry record ", dir.ok() ? *dir : "?", "/", file);
}

std::string QueueLine(int id) { return absl::StrCat("SysV queue ", id); }

// The queue id recorded for `bound`, or -1.
int RecordedId(const std::string& bound, msgq::Record* record) {
  absl::StatusOr<msgq::Record> r = msgq::ReadRecord(RecordFile(bound));
  int id = -1;
  if (!r.ok() || !absl::SimpleAtoi(r->extra, &id)) return -1;
  if (record != nullptr) *record = *r;
  return id;
}

// Queue ids seen for each address, so one whose record is gone is still looked for.
std::set<int> RememberIds(const std::string& bound, int id) {
  static std::mutex mu;
  static std::map<std::string, std::set<int>>* seen = new std::map<std::string, std::set<int>>;
  std::lock_guard<std::mutex> lock(mu);
  std::set<int>& ids = (*seen)[bound];
  if (id >= 0) ids.insert(id);
  return ids;
}

// Our 0600 queues whose last sender or receiver is one of `pids`, from /proc/sysvipc/msg:
// "key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime".
std::vector<int> QueuesTouchedBy(const std::vector<pid_t>& pids) {
  std::vector<int> out;
  std::ifstream in("/proc/sysvipc/msg");
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    long key = 0, perms = 0, cbytes = 0, qnum = 0, uid = 0;
    int id = -1;
    pid_t lspid = 0, lrpid = 0;
    if (!(f >> key >> id >> std::oct >> perms >> std::dec >> cbytes >> qnum >> lspid >> lrpid >>
          uid)) {
      continue;
    }
    if (uid != static_cast<long>(::geteuid()) || (perms & 0777) != 0600) continue;
    for (pid_t pid : pids) {
      if (pid == lspid || pid == lrpid) out.push_back(id);
    }
  }
  return out;
}

std::vector<std::string> SysvLeftovers(const std::string& bound, const std::vector<pid_t>& pids) {
  std::set<std::string> out;
  msgq::Record server;
  const int recorded = RecordedId(bound, &server);
  absl::StatusOr<msgq::Record> r = msgq::ReadRecord(RecordFile(bound));
  if (r.status().code() != absl::StatusCode::kNotFound) out.insert(RecordLine(RecordFile(bound)));
  std::set<int> ids = RememberIds(bound, recorded);
  for (int id : QueuesTouchedBy(pids)) ids.insert(id);
  for (int id : ids) {
    msqid_ds ds{};
    if (::msgctl(id, IPC_STAT, &ds) != 0) continue;
    out.insert(QueueLine(id));
    // A live server drains its queue of requests, and a closed or dead client's type is
    // purged: messages that stay are stale (a killed client's replies) or lost. (A killed
    // server's queue keeps what was in flight: that is the queue it leaves.)
    if (ds.msg_qnum > 0 && id == recorded && msgq::ProcessAlive(server.pid, server.start_time)) {
      out.insert(absl::StrCat(ds.msg_qnum, " messages waiting in SysV queue ", id,
                              " of a live server"));
    }
  }
  return std::vector<std::string>(out.begin(), out.end());
}

FaultParam SysvFaultParam() {
  FaultParam p;
  p.rpc = conformance::SysvParam("faults");
  p.leftovers = SysvLeftovers;
  // Nothing removes a SIGKILLed server's queue and record but the next Listen() of its name.
  p.left_by_killed_server = [](const std::string& bound) {
    std::vector<std::string> out = {RecordLine(RecordFile(bound))};
    const int id = RecordedId(bound, nullptr);
    if (id >= 0) out.push_back(QueueLine(id));
    return out;
  };
  return p;
}

INSTANTIATE_TEST_SUITE_P(Sysv, RpcFaults, testing::Values(SysvFaultParam()), FaultParamName);

}  // namespace
}  // namespace ferry::faults
