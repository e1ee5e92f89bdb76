// The pipe byte stream: the transport conformance suite over in-process pipe pairs (the
// exact connection class exec: and stdio: build, minus the spawning, which
// exec_transport_test covers), in each of its modes, plus SIGPIPE, wake-up and fd tests.
#include "transports/pipe/pipe_stream.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/frame.h"
#include "transports/testing/transport_conformance.h"

namespace ferry {
namespace {

// "pipe:<name>": an in-process rendezvous (a test fixture, not a Ferry transport). Each
// Connect() makes two pipes and hands the server's ends to the named listener.
class PipePairTransport final : public Transport {
 public:
  explicit PipePairTransport(PipeByteStream::Options options) : options_(options) {}

  absl::string_view scheme() const override { return "pipe"; }

  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address,
                                                   const ConnectionLimits& limits) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (listeners_.count(address.target)) return absl::AlreadyExistsError(address.target);
    auto l = std::make_unique<PairListener>(this, address.target, limits);
    listeners_[address.target] = l.get();
    return std::unique_ptr<Listener>(std::move(l));
  }

  // A raw client for the garbage and half-frame tests: the server end is a real pipe
  // connection, the returned fd the raw write end feeding it.
  absl::StatusOr<UniqueFd> RawConnect(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = listeners_.find(name);
    if (it == listeners_.end()) return absl::UnavailableError("nobody listens");
    auto up = NewPipe();
    auto down = NewPipe();
    if (!up.ok() || !down.ok()) return absl::InternalError("pipe2");
    auto server = NewPipeConnection(std::move(up->first), std::move(down->second),
                                    "pipe:server-end", it->second->limits(), options_);
    if (!server.ok()) return server.status();
    it->second->Push(*std::move(server));
    parked_.push_back(std::move(down->first));  // keep the server's output pipe open
    return std::move(up->second);
  }

  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Address& address,
                                                      const ConnectionLimits& limits,
                                                      absl::Time) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = listeners_.find(address.target);
    if (it == listeners_.end()) return absl::UnavailableError("nobody listens");
    auto up = NewPipe();
    auto down = NewPipe();
    if (!up.ok() || !down.ok()) return absl::InternalError("pipe2");
    auto server = NewPipeConnection(std::move(up->first), std::move(down->second),
                                    "pipe:server-end", it->second->limits(), options_);
    if (!server.ok()) return server.status();
    auto client = NewPipeConnection(std::move(down->first), std::move(up->second),
                                    "pipe:client-end", limits, options_);
    if (!client.ok()) return client.status();
    it->second->Push(*std::move(server));
    return client;
  }

 private:
  class PairListener final : public Listener {
   public:
    PairListener(PipePairTransport* t, std::string name, ConnectionLimits limits)
        : t_(t), name_(std::move(name)), limits_(limits) {}
    ~PairListener() override { Close(); }
    absl::StatusOr<std::unique_ptr<Connection>> Accept() override {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
      if (closed_) return absl::UnavailableError("closed");
      auto c = std::move(queue_.front());
      queue_.pop_front();
      return c;
    }
    void Close() override {
      {
        std::lock_guard<std::mutex> lock(t_->mu_);
        auto it = t_->listeners_.find(name_);
        if (it != t_->listeners_.end() && it->second == this) t_->listeners_.erase(it);
      }
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      queue_.clear();
      cv_.notify_all();
    }
    std::string address() const override { return "pipe:" + name_; }
    const ConnectionLimits& limits() const { return limits_; }
    void Push(std::unique_ptr<Connection> c) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(c));
      cv_.notify_all();
    }

   private:
    PipePairTransport* const t_;
    const std::string name_;
    const ConnectionLimits limits_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool closed_ = false;
    std::deque<std::unique_ptr<Connection>> queue_;
  };

  const PipeByteStream::Options options_;
  std::mutex mu_;
  std::map<std::string, PairListener*> listeners_;
  std::vector<UniqueFd> parked_;
};

// The transport the current test made (tests of one binary run one at a time).
PipePairTransport* current = nullptr;

TransportConformanceParam Param(const std::string& name, bool sigmask, bool poll) {
  TransportConformanceParam p;
  p.name = name;
  p.make_transport = [sigmask, poll] {
    PipeByteStream::Options o;
    o.force_sigmask_writes = sigmask;
    o.force_poll_reads = poll;
    auto t = std::make_unique<PipePairTransport>(o);
    current = t.get();
    return t;
  };
  p.listen_address = [](const std::string& dir) { return "pipe:" + dir; };
  p.raw_connect = [](const std::string& address) { return current->RawConnect(address.substr(5)); };
  return p;
}

INSTANTIATE_TEST_SUITE_P(Pipe, TransportConformanceTest,
                         ::testing::Values(Param("Guarded_BlockingReads", false, false),
                                           Param("SigmaskWrites", true, false),
                                           Param("PollReads", false, true),
                                           Param("SigmaskWrites_PollReads", true, true)),
                         TransportConformanceName);

int CountFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n - 1;  // the DIR's own fd
}

// Whatever the host's SIGPIPE disposition (default here: it would kill the test), a write
// to a pipe whose reader is gone is UNAVAILABLE, in both write modes.
TEST(PipeByteStream, WriteToAClosedReaderIsUnavailableAndRaisesNoSigpipe) {
  ASSERT_EQ(::signal(SIGPIPE, SIG_DFL), SIG_DFL);
  for (bool sigmask : {false, true}) {
    SCOPED_TRACE(sigmask ? "sigmask writes" : "guarded writes");
    auto up = NewPipe();
    auto down = NewPipe();
    ASSERT_TRUE(up.ok() && down.ok());
    ASSERT_TRUE(SetNonBlocking(up->second.get(), true).ok());
    PipeByteStream::Options o;
    o.force_sigmask_writes = sigmask;
    int gone = 0;
    o.on_peer_gone = [&] { ++gone; };
    auto s = PipeByteStream::Create(std::move(down->first), std::move(up->second), o);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ((*s)->guarded_writes(), !sigmask);
    // The peer dies: both its ends close.
    up->first.reset();
    down->second.reset();
    char byte = 'x';
    iovec iov{&byte, 1};
    absl::Status st;
    for (int i = 0; i < 200000 && st.ok(); ++i) {
      absl::StatusOr<size_t> n = (*s)->WriteSome(&iov, 1);
      st = n.status();
      if (st.ok() && *n == 0) st = (*s)->WaitWritable(absl::Now() + absl::Seconds(5));
    }
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
    EXPECT_EQ(gone, 1);
    sigset_t pending;
    sigpending(&pending);
    EXPECT_FALSE(sigismember(&pending, SIGPIPE)) << "a SIGPIPE was left pending";
  }
}

TEST(PipeByteStream, ModesAreWhatTheHostAllows) {
  auto a = NewPipe();
  auto b = NewPipe();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(SetNonBlocking(b->second.get(), true).ok());
  auto s = PipeByteStream::Create(std::move(a->first), std::move(b->second));
  ASSERT_TRUE(s.ok()) << s.status();
  // /proc is mounted in every environment these tests run in.
  EXPECT_TRUE((*s)->guarded_writes());
  EXPECT_TRUE((*s)->blocking_reads());
}

TEST(PipeByteStream, RejectsSomethingThatIsNotAPipe) {
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  auto a = NewPipe();
  ASSERT_TRUE(a.ok());
  auto s = PipeByteStream::Create(UniqueFd(null), std::move(a->second));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
}

TEST(PipeByteStream, ConnectionsLeaveNoFdsBehind) {
  const int before = CountFds();
  {
    PipePairTransport t(PipeByteStream::Options{});
    auto l = t.Listen(*Address::Parse("pipe:fds"), {});
    ASSERT_TRUE(l.ok());
    for (int i = 0; i < 5; ++i) {
      auto c = t.Connect(*Address::Parse("pipe:fds"), {}, absl::Now() + absl::Seconds(5));
      ASSERT_TRUE(c.ok()) << c.status();
      auto s = (*l)->Accept();
      ASSERT_TRUE(s.ok());
      OutFrame f = MakeFrame(FrameType::kMessage, 0, 1, "hi");
      ASSERT_TRUE((*c)->Send({&f, 1}, absl::Now() + absl::Seconds(5)).ok());
      ASSERT_TRUE((*s)->Receive(absl::Now() + absl::Seconds(5)).ok());
      (*c)->Close();
      EXPECT_EQ((*s)->Receive(absl::Now() + absl::Seconds(5)).status().code(),
                absl::StatusCode::kUnavailable);
    }
  }
  EXPECT_EQ(CountFds(), before);
}

}  // namespace
}  // namespace ferry
