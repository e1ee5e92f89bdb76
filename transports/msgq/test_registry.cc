#include "transports/msgq/test_registry.h"

#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "transports/msgq/process.h"

namespace ferry::msgq {
namespace {

std::string* dir = nullptr;

// Removes the queue a record stands for (naming as in transports/mq and transports/sysv).
void RemoveRecorded(const std::string& file) {
  if (absl::StartsWith(file, "mq.")) {
    std::string name = file.substr(3);
    if (absl::EndsWith(name, ".server")) name.resize(name.size() - 7);
    ::mq_unlink(absl::StrCat("/ferry.", name).c_str());
  } else if (absl::StartsWith(file, "sysv")) {
    absl::StatusOr<Record> r = ReadRecord(file);
    int id = -1;
    msqid_ds ds{};
    if (r.ok() && absl::SimpleAtoi(r->extra, &id) && id >= 0 && ::msgctl(id, IPC_STAT, &ds) == 0 &&
        ds.msg_perm.uid == ::geteuid()) {
      ::msgctl(id, IPC_RMID, nullptr);
    }
  }
}

void CleanUp() {
  if (dir == nullptr) return;
  for (const std::string& file : ListRecords("")) {
    if (file == "." || file == "..") continue;
    RemoveRecorded(file);
  }
  std::error_code ignored;
  std::filesystem::remove_all(*dir, ignored);
}

}  // namespace

void UsePrivateRegistry() {
  if (dir != nullptr) return;
  char tmpl[] = "/tmp/ferry-msgq-test.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return;  // the default registry then; tests still work
  dir = new std::string(tmpl);
  ::setenv("FERRY_MSGQ_DIR", dir->c_str(), 1);
  // Only the process that made it cleans up (forked children exit with _exit or are killed).
  static const pid_t owner = ::getpid();
  std::atexit([] {
    if (::getpid() == owner) CleanUp();
  });
}

}  // namespace ferry::msgq
