// The fault suite (tests/faults/rpc_faults.h) over mq://: clients and the server SIGKILLed
// at random points.
//
// What mq:// leaves for an address "mq://<name>" (transports/mq/mq_transport.h): the
// server's request queue "/ferry.<name>" and its registry record "mq.<name>.server"; per
// client connection a reply queue "/ferry.<name>+<pid>.<n>" and its record. Every queue is
// recorded before it is created and unrecorded after it is removed, so the records in the
// (private, $FERRY_MSGQ_DIR) registry name every queue that can exist; /dev/mqueue, where it
// is mounted, is listed as well. A killed server leaves its queue and record until the next
// Listen() of the name reclaims them; a killed client's queue is the server's to remove.
//
// A reply queue whose owner (per its record) is alive and still holds it open belongs to
// a connection in use, as a Unix socket's client end does, and is not listed: the suite
// keeps its survivor's channels until the end, and an idle channel keeps its connection
// (and queue) until its next call or its destruction. One its owner no longer holds open,
// or whose owner is dead, is left behind.
#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sys/types.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/faults/rpc_faults.h"
#include "transports/mq/mq_rpc_param.h"
#include "transports/msgq/process.h"

namespace ferry::conformance {
// rpc_conformance (linked for its parameters and ChildServer) defines the conformance
// suite, which this binary does not run.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RpcConformance);
}  // namespace ferry::conformance

namespace ferry::faults {
namespace {

// "mq://<name>[?options]" -> "<name>".
std::string NameOf(const std::string& bound) {
  std::string name = bound.substr(bound.find("//") + 2);
  return name.substr(0, name.find('?'));
}

std::string RecordLine(const std::string& file) {
  absl::StatusOr<std::string> dir = msgq::RegistryDir();
  return absl::StrCat("registry record ", dir.ok() ? *dir : "?", "/", file);
}

std::string QueueLine(const std::string& queue) { return absl::StrCat("POSIX queue ", queue); }

// Opens `queue` if it exists (to tell, and to count its messages); -1 if it does not.
long QueuedMessages(const std::string& queue) {
  const mqd_t q = ::mq_open(queue.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (q == static_cast<mqd_t>(-1)) return -1;
  mq_attr attr{};
  ::mq_getattr(q, &attr);
  ::mq_close(q);
  return attr.mq_curmsgs;
}

// True if process `pid` has a descriptor on `queue` ("/ferry.<name>+<pid>.<n>"): the
// links in /proc/<pid>/fd of POSIX queues read "/<queue name>".
bool HoldsOpen(pid_t pid, const std::string& queue) {
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    char target[512];
    const ssize_t n =
        ::readlink(absl::StrCat(dir, "/", e->d_name).c_str(), target, sizeof(target) - 1);
    if (n > 0 && queue == absl::string_view(target, static_cast<size_t>(n))) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

// A client's reply queue that is in use: its live owner holds it open.
bool InUse(const std::string& record_file, const std::string& queue) {
  absl::StatusOr<msgq::Record> owner = msgq::ReadRecord(record_file);
  return owner.ok() && msgq::ProcessAlive(owner->pid, owner->start_time) &&
         HoldsOpen(owner->pid, queue);
}

std::vector<std::string> MqLeftovers(const std::string& bound, const std::vector<pid_t>&) {
  const std::string name = NameOf(bound);
  const std::string server_record = absl::StrCat("mq.", name, ".server");
  const std::string server_queue = absl::StrCat("/ferry.", name);
  std::set<std::string> out;
  std::vector<std::string> queues = {server_queue};
  absl::StatusOr<msgq::Record> server = msgq::ReadRecord(server_record);
  if (server.status().code() != absl::StatusCode::kNotFound) out.insert(RecordLine(server_record));
  for (const std::string& file : msgq::ListRecords(absl::StrCat("mq.", name, "+"))) {
    const std::string queue = absl::StrCat("/ferry.", file.substr(3));  // "mq.<name>+<pid>.<n>"
    if (InUse(file, queue)) continue;
    out.insert(RecordLine(file));
    queues.push_back(queue);
  }
  // Where the mqueue file system is mounted, a queue nobody recorded shows up too.
  if (DIR* d = ::opendir("/dev/mqueue")) {
    while (dirent* e = ::readdir(d)) {
      const std::string entry = e->d_name;
      if (entry == server_queue.substr(1)) queues.push_back(server_queue);
      if (absl::StartsWith(entry, absl::StrCat("ferry.", name, "+")) &&
          !InUse(absl::StrCat("mq.", entry.substr(6)), "/" + entry)) {
        queues.push_back("/" + entry);
      }
    }
    ::closedir(d);
  }
  for (const std::string& queue : queues) {
    const long messages = QueuedMessages(queue);
    if (messages < 0) continue;
    out.insert(QueueLine(queue));
    // A live server drains its queue; pieces that stay there would be lost or stale. (A
    // killed server's queue keeps what was in flight: that is the queue it leaves.)
    if (queue == server_queue && messages > 0 && server.ok() &&
        msgq::ProcessAlive(server->pid, server->start_time)) {
      out.insert(absl::StrCat(messages, " messages waiting in ", queue, " of a live server"));
    }
  }
  return std::vector<std::string>(out.begin(), out.end());
}

FaultParam MqFaultParam() {
  FaultParam p;
  p.rpc = conformance::MqParam("faults");
  p.leftovers = MqLeftovers;
  // Nothing removes a SIGKILLed server's queue and record but the next Listen() of its name.
  p.left_by_killed_server = [](const std::string& bound) {
    const std::string name = NameOf(bound);
    return std::vector<std::string>{RecordLine(absl::StrCat("mq.", name, ".server")),
                                    QueueLine(absl::StrCat("/ferry.", name))};
  };
  return p;
}

INSTANTIATE_TEST_SUITE_P(Mq, RpcFaults, testing::Values(MqFaultParam()), FaultParamName);

}  // namespace
}  // namespace ferry::faults
