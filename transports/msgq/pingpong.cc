// Transport-level ping-pong over mq:// or sysv://, beside the bare queue ping-pong, in two
// processes: what the transport adds per round trip, without the RPC runtime.
//   bazel run -c opt //transports/msgq:pingpong -- [mq|sysv] [iterations] [size]
// Prints p50 / p99 round-trip microseconds of: raw (bare queues, same message size and
// process layout as the ferry-bench raw floor) and transport (Connection::Send/Receive of
// one MESSAGE frame each way through the real transport).
#include <fcntl.h>
#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/frame.h"
#include "transports/mq/mq_transport.h"
#include "transports/sysv/sysv_transport.h"

namespace {

using ferry::Address;

void Report(const char* what, std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  std::printf("%-10s p50 %7.2f us   p99 %7.2f us\n", what, us[us.size() / 2],
              us[us.size() * 99 / 100]);
}

std::vector<double> Raw(bool sysv, int iterations, size_t size) {
  std::vector<double> us;
  const std::string payload(size, 'x');
  std::vector<char> buf(sizeof(long) + 65536);
  if (!sysv) {
    const std::string a = absl::StrCat("/ferry-pp-a-", getpid()), b = absl::StrCat("/ferry-pp-b-", getpid());
    mqd_t qa = mq_open(a.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, nullptr);
    mqd_t qb = mq_open(b.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, nullptr);
    mq_unlink(a.c_str());
    mq_unlink(b.c_str());
    const pid_t child = fork();
    if (child == 0) {
      for (int i = 0; i < iterations; ++i) {
        const ssize_t n = mq_receive(qa, buf.data(), 8192, nullptr);
        mq_send(qb, buf.data(), n, 0);
      }
      _exit(0);
    }
    for (int i = 0; i < iterations; ++i) {
      const absl::Time t = absl::Now();
      mq_send(qa, payload.data(), payload.size(), 0);
      mq_receive(qb, buf.data(), 8192, nullptr);
      us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
    }
    waitpid(child, nullptr, 0);
  } else {
    const int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    const pid_t child = fork();
    if (child == 0) {
      for (int i = 0; i < iterations; ++i) {
        const ssize_t n = msgrcv(id, buf.data(), 8192, 2, 0);
        long t = 3;
        std::memcpy(buf.data(), &t, sizeof(long));
        msgsnd(id, buf.data(), n, 0);
      }
      _exit(0);
    }
    std::vector<char> out(sizeof(long) + size);
    long t2 = 2;
    std::memcpy(out.data(), &t2, sizeof(long));
    for (int i = 0; i < iterations; ++i) {
      const absl::Time t = absl::Now();
      msgsnd(id, out.data(), size, 0);
      msgrcv(id, buf.data(), 8192, 3, 0);
      us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
    }
    waitpid(child, nullptr, 0);
    msgctl(id, IPC_RMID, nullptr);
  }
  return us;
}

std::vector<double> Transport(bool sysv, int iterations, size_t size) {
  std::unique_ptr<ferry::Transport> t;
  if (sysv) {
    t = std::make_unique<ferry::SysvTransport>();
  } else {
    t = std::make_unique<ferry::MqTransport>();
  }
  const std::string address = absl::StrCat(sysv ? "sysv" : "mq", "://pingpong-", getpid());
  auto listener = t->Listen(*Address::Parse(address), {});
  if (!listener.ok()) {
    std::fprintf(stderr, "listen: %s\n", listener.status().ToString().c_str());
    std::exit(1);
  }
  const pid_t child = fork();
  if (child == 0) {
    auto c = t->Connect(*Address::Parse(address), {}, absl::Now() + absl::Seconds(5));
    if (!c.ok()) _exit(1);
    for (;;) {
      absl::StatusOr<ferry::Frame> f = (*c)->Receive(absl::InfiniteFuture());
      if (!f.ok()) break;
      const std::string echo(f->payload);
      ferry::OutFrame out = ferry::MakeFrame(ferry::FrameType::kMessage, 0, 1, echo);
      if (!(*c)->Send({&out, 1}, absl::InfiniteFuture()).ok()) break;
    }
    (*c)->Close();  // removes its reply queue
    _exit(0);
  }
  auto server = (*listener)->Accept();
  const std::string payload(size, 'x');
  std::vector<double> us;
  for (int i = 0; i < iterations; ++i) {
    const absl::Time start = absl::Now();
    ferry::OutFrame out = ferry::MakeFrame(ferry::FrameType::kMessage, 0, 1, payload);
    if (!(*server)->Send({&out, 1}, absl::InfiniteFuture()).ok()) break;
    if (!(*server)->Receive(absl::InfiniteFuture()).ok()) break;
    us.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
  }
  (*server)->Close();
  waitpid(child, nullptr, 0);
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  const bool sysv = argc > 1 && std::strcmp(argv[1], "sysv") == 0;
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 20000;
  const size_t size = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 64;
  for (int round = 0; round < 3; ++round) {
    std::vector<double> raw = Raw(sysv, iterations, size);
    Report("raw", raw);
    std::vector<double> tr = Transport(sysv, iterations, size);
    Report("transport", tr);
  }
}
