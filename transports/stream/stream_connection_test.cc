#include "transports/stream/stream_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/frame.h"
#include "transports/stream/byte_stream.h"
#include "transports/stream/fd.h"

// Records the largest single allocation, so tests can prove a hostile header allocated
// nothing of the size it announced.
namespace {
std::atomic<size_t> g_largest_allocation{0};
}  // namespace
void* operator new(size_t n) {
  size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
  while (n > seen && !g_largest_allocation.compare_exchange_weak(seen, n)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace ferry {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(10);

std::string Wire(FrameType type, uint32_t call_id, absl::string_view payload) {
  FrameHeader h{type, 0, call_id, static_cast<uint32_t>(payload.size())};
  return absl::StrCat(h.Serialize(), payload);
}

// ---- A scripted ByteStream, to observe how many system calls the framer would make ----

class FakeStream final : public ByteStream {
 public:
  struct Shared {
    absl::Mutex mu;
    std::string incoming ABSL_GUARDED_BY(mu);   // bytes Read() will return
    std::string written ABSL_GUARDED_BY(mu);    // bytes WriteSome() accepted
    size_t max_write ABSL_GUARDED_BY(mu) = SIZE_MAX;  // per call; 0: the stream is full
    size_t budget ABSL_GUARDED_BY(mu) = SIZE_MAX;     // in total, before it is full
    bool shut_down ABSL_GUARDED_BY(mu) = false;
    bool eof ABSL_GUARDED_BY(mu) = false;
    int reads ABSL_GUARDED_BY(mu) = 0;
    int writes ABSL_GUARDED_BY(mu) = 0;
    int waits ABSL_GUARDED_BY(mu) = 0;
    bool inside_read ABSL_GUARDED_BY(mu) = false;
    bool hold_read_after_shutdown ABSL_GUARDED_BY(mu) = false;
    std::atomic<bool> destroyed{false};
  };
  explicit FakeStream(std::shared_ptr<Shared> s) : s_(std::move(s)) {}
  ~FakeStream() override { s_->destroyed = true; }

  absl::StatusOr<size_t> Read(char* buf, size_t n, absl::Time deadline) override {
    absl::MutexLock l(&s_->mu);
    ++s_->reads;
    s_->inside_read = true;
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s_->mu) {
      return !s_->incoming.empty() || s_->eof || s_->shut_down;
    };
    const bool got = s_->mu.AwaitWithDeadline(absl::Condition(&ready), deadline);
    if (s_->shut_down) {
      auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s_->mu) {
        return !s_->hold_read_after_shutdown;
      };
      s_->mu.Await(absl::Condition(&released));
    }
    s_->inside_read = false;
    if (!got) return absl::DeadlineExceededError("fake deadline");
    if (s_->shut_down || s_->incoming.empty()) return size_t{0};
    const size_t k = std::min(n, s_->incoming.size());
    std::memcpy(buf, s_->incoming.data(), k);
    s_->incoming.erase(0, k);
    return k;
  }
  absl::StatusOr<size_t> WriteSome(const struct iovec* iov, int iovcnt) override {
    absl::MutexLock l(&s_->mu);
    ++s_->writes;
    if (s_->shut_down) return absl::UnavailableError("fake shut down");
    size_t budget = std::min(s_->max_write, s_->budget), done = 0;
    for (int i = 0; i < iovcnt && budget > 0; ++i) {
      const size_t k = std::min(budget, iov[i].iov_len);
      s_->written.append(static_cast<const char*>(iov[i].iov_base), k);
      budget -= k;
      done += k;
    }
    if (s_->budget != SIZE_MAX) s_->budget -= done;
    return done;
  }
  absl::Status WaitWritable(absl::Time deadline) override {
    absl::MutexLock l(&s_->mu);
    ++s_->waits;
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s_->mu) {
      return (s_->max_write > 0 && s_->budget > 0) || s_->shut_down;
    };
    if (!s_->mu.AwaitWithDeadline(absl::Condition(&ready), deadline)) {
      return absl::DeadlineExceededError("fake deadline");
    }
    return absl::OkStatus();
  }
  void Shutdown() override {
    absl::MutexLock l(&s_->mu);
    s_->shut_down = true;
  }

 private:
  std::shared_ptr<Shared> s_;
};

struct FakeConn {
  std::shared_ptr<FakeStream::Shared> shared = std::make_shared<FakeStream::Shared>();
  std::unique_ptr<StreamConnection> conn;
  explicit FakeConn(uint32_t max_payload = kDefaultMaxMessageSize) {
    conn = StreamConnection::Create(std::make_unique<FakeStream>(shared), "fake",
                                    ConnectionLimits{max_payload});
  }
};

TEST(StreamConnectionFakeTest, OneSendIsOneVectoredWrite) {
  FakeConn f;
  std::vector<std::string> payloads = {"", "a", std::string(64, 'b'), std::string(5000, 'c')};
  std::vector<OutFrame> frames;
  std::string expected;
  for (size_t i = 0; i < payloads.size(); ++i) {
    frames.push_back(MakeFrame(FrameType::kMessage, 0, i + 1, payloads[i]));
    expected += Wire(FrameType::kMessage, i + 1, payloads[i]);
  }
  ASSERT_TRUE(f.conn->Send(frames, absl::InfiniteFuture()).ok());
  absl::MutexLock l(&f.shared->mu);
  EXPECT_EQ(f.shared->writes, 1);
  EXPECT_EQ(f.shared->waits, 0);
  EXPECT_EQ(f.shared->written, expected);
}

TEST(StreamConnectionFakeTest, PartialWritesAreCompleted) {
  FakeConn f;
  {
    absl::MutexLock l(&f.shared->mu);
    f.shared->max_write = 7;  // splits headers and payloads at odd places
  }
  const std::string big(1000, 'x');
  std::vector<OutFrame> frames = {MakeFrame(FrameType::kMessage, 0, 1, "hello"),
                                  MakeFrame(FrameType::kHalfClose, 0, 1, ""),
                                  MakeFrame(FrameType::kMessage, 0, 2, big)};
  ASSERT_TRUE(f.conn->Send(frames, absl::InfiniteFuture()).ok());
  absl::MutexLock l(&f.shared->mu);
  EXPECT_EQ(f.shared->written, Wire(FrameType::kMessage, 1, "hello") +
                                   Wire(FrameType::kHalfClose, 1, "") +
                                   Wire(FrameType::kMessage, 2, big));
}

TEST(StreamConnectionFakeTest, FullStreamHitsDeadlineAndStaysUsable) {
  FakeConn f;
  {
    absl::MutexLock l(&f.shared->mu);
    f.shared->max_write = 0;
  }
  OutFrame frame = MakeFrame(FrameType::kMessage, 0, 1, "data");
  absl::Status s = f.conn->Send({&frame, 1}, absl::Now() + absl::Milliseconds(20));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  {
    absl::MutexLock l(&f.shared->mu);
    f.shared->max_write = SIZE_MAX;
  }
  EXPECT_TRUE(f.conn->Send({&frame, 1}, absl::InfiniteFuture()).ok());
  absl::MutexLock l(&f.shared->mu);
  EXPECT_EQ(f.shared->written, Wire(FrameType::kMessage, 1, "data"));
}

TEST(StreamConnectionFakeTest, DeadlineAfterPartialSendClosesTheConnection) {
  FakeConn f;
  {
    absl::MutexLock l(&f.shared->mu);
    f.shared->budget = 10;  // then "full" until the deadline
  }
  OutFrame frame = MakeFrame(FrameType::kMessage, 0, 1, std::string(100, 'p'));
  absl::Status s = f.conn->Send({&frame, 1}, absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(f.conn->Send({&frame, 1}, absl::InfiniteFuture()).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(f.conn->Receive(absl::InfiniteFuture()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(f.shared->destroyed);
}

TEST(StreamConnectionFakeTest, MismatchedHeaderLengthIsInvalidArgument) {
  FakeConn f;
  OutFrame frame = MakeFrame(FrameType::kMessage, 0, 1, "four");
  frame.header.payload_length = 3;
  EXPECT_EQ(f.conn->Send({&frame, 1}, absl::InfiniteFuture()).code(),
            absl::StatusCode::kInvalidArgument);
  absl::MutexLock l(&f.shared->mu);
  EXPECT_EQ(f.shared->writes, 0);
}

TEST(StreamConnectionFakeTest, ManySmallFramesComeFromOneRead) {
  FakeConn f;
  {
    absl::MutexLock l(&f.shared->mu);
    for (uint32_t i = 1; i <= 50; ++i) {
      f.shared->incoming += Wire(FrameType::kMessage, i, std::string(i, 'm'));
    }
  }
  for (uint32_t i = 1; i <= 50; ++i) {
    absl::StatusOr<Frame> fr = f.conn->Receive(absl::InfiniteFuture());
    ASSERT_TRUE(fr.ok()) << fr.status();
    EXPECT_EQ(fr->header.call_id, i);
    EXPECT_EQ(fr->payload, std::string(i, 'm'));
  }
  absl::MutexLock l(&f.shared->mu);
  EXPECT_EQ(f.shared->reads, 1);
}

TEST(StreamConnectionFakeTest, LargePayloadIsReadStraightIntoTheBuffer) {
  FakeConn f;
  const std::string payload(1 << 20, 'L');
  {
    absl::MutexLock l(&f.shared->mu);
    f.shared->incoming = Wire(FrameType::kMessage, 3, payload);
  }
  absl::StatusOr<Frame> fr = f.conn->Receive(absl::InfiniteFuture());
  ASSERT_TRUE(fr.ok()) << fr.status();
  EXPECT_EQ(fr->payload, payload);
  EXPECT_EQ(f.conn->receive_buffer_capacity(), kFrameHeaderSize + payload.size());
  absl::MutexLock l(&f.shared->mu);
  EXPECT_EQ(f.shared->reads, 2);  // a first chunk with the header, then the rest in one go
}

TEST(StreamConnectionFakeTest, CloseDestroysTheStreamOnlyAfterTheBlockedCallLeaves) {
  FakeConn f;
  {
    absl::MutexLock l(&f.shared->mu);
    f.shared->hold_read_after_shutdown = true;
  }
  absl::Notification done;
  absl::Status result;
  std::thread receiver([&] {
    result = f.conn->Receive(absl::InfiniteFuture()).status();
    done.Notify();
  });
  {
    absl::MutexLock l(&f.shared->mu);
    auto inside = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(f.shared->mu) {
      return f.shared->inside_read;
    };
    f.shared->mu.Await(absl::Condition(&inside));
  }
  f.conn->Close();
  // The reader is still inside Read(): the stream (its fds) must still exist.
  EXPECT_FALSE(f.shared->destroyed);
  {
    absl::MutexLock l(&f.shared->mu);
    f.shared->hold_read_after_shutdown = false;
  }
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPatience));
  receiver.join();
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(f.shared->destroyed);
}

// ---- Over a real socketpair ----

struct Pair {
  std::unique_ptr<StreamConnection> conn;  // under test
  UniqueFd raw;                            // the peer's raw socket
};
Pair MakePair(uint32_t max_payload = kDefaultMaxMessageSize) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Pair p;
  p.conn = StreamConnection::Create(std::make_unique<SocketByteStream>(UniqueFd(sv[0])),
                                    "socketpair", ConnectionLimits{max_payload});
  p.raw = UniqueFd(sv[1]);
  return p;
}
void WriteRaw(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << std::strerror(errno);
    bytes.remove_prefix(n);
  }
}

TEST(StreamConnectionSocketTest, RandomBytesBreakTheConnection) {
  Pair p = MakePair();
  std::mt19937 rng(1234);
  std::string junk(4096, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  junk[0] = 0;  // never the magic
  WriteRaw(p.raw.get(), junk);
  absl::StatusOr<Frame> f = p.conn->Receive(absl::Now() + kPatience);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  // Unusable afterwards, even if good frames follow.
  WriteRaw(p.raw.get(), Wire(FrameType::kMessage, 1, "good"));
  EXPECT_EQ(p.conn->Receive(absl::Now() + kPatience).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StreamConnectionSocketTest, FourGibibyteFrameIsRefusedWithoutAllocatingIt) {
  Pair p = MakePair();
  g_largest_allocation = 0;
  FrameHeader h{FrameType::kMessage, 0, 1, 0xFFFFFFFFu};
  WriteRaw(p.raw.get(), h.Serialize() + std::string(1000, 'x'));
  absl::StatusOr<Frame> f = p.conn->Receive(absl::Now() + kPatience);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kResourceExhausted) << f.status();
  EXPECT_LE(p.conn->receive_buffer_capacity(), StreamFramer::kDefaultChunk);
  EXPECT_LE(g_largest_allocation.load(), size_t{1} << 20);
  EXPECT_EQ(p.conn->Receive(absl::Now() + kPatience).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(StreamConnectionSocketTest, FrameWrittenOneByteAtATimeIsReassembled) {
  Pair p = MakePair();
  std::string payload(300, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i);
  const std::string wire = Wire(FrameType::kMessage, 77, payload);
  std::thread writer([&] {
    for (char c : wire) {
      WriteRaw(p.raw.get(), absl::string_view(&c, 1));
      absl::SleepFor(absl::Microseconds(50));
    }
  });
  absl::StatusOr<Frame> f = p.conn->Receive(absl::InfiniteFuture());
  writer.join();
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->header.call_id, 77u);
  EXPECT_EQ(f->payload, payload);
}

TEST(StreamConnectionSocketTest, PartialFrameSurvivesADeadline) {
  Pair p = MakePair();
  const std::string wire = Wire(FrameType::kMessage, 5, std::string(5000, 'h'));
  WriteRaw(p.raw.get(), wire.substr(0, 2000));
  EXPECT_EQ(p.conn->Receive(absl::Now() + absl::Milliseconds(30)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  WriteRaw(p.raw.get(), wire.substr(2000));
  absl::StatusOr<Frame> f = p.conn->Receive(absl::Now() + kPatience);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->payload, std::string(5000, 'h'));
}

TEST(StreamConnectionSocketTest, EndOfStreamMidFrameIsUnavailable) {
  Pair p = MakePair();
  WriteRaw(p.raw.get(), Wire(FrameType::kMessage, 5, "abcdef").substr(0, 20));
  p.raw.reset();
  absl::StatusOr<Frame> f = p.conn->Receive(absl::Now() + kPatience);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(f.status().message().find("middle of a frame"), absl::string_view::npos)
      << f.status();
  OutFrame out = MakeFrame(FrameType::kMessage, 0, 1, "x");
  EXPECT_EQ(p.conn->Send({&out, 1}, absl::Now() + kPatience).code(),
            absl::StatusCode::kUnavailable);
}

TEST(StreamConnectionSocketTest, SendNeverBlocksPastItsDeadline) {
  Pair p = MakePair();
  const std::string chunk(1 << 20, 's');
  std::vector<OutFrame> frames(16, MakeFrame(FrameType::kMessage, 0, 1, chunk));
  const absl::Time start = absl::Now();
  absl::Status s = p.conn->Send(frames, start + absl::Milliseconds(50));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  // Part of the frames went out: the connection closed itself.
  EXPECT_EQ(p.conn->Send(frames, absl::InfiniteFuture()).code(), absl::StatusCode::kUnavailable);
}

TEST(StreamConnectionSocketTest, SendAfterPeerCloseDoesNotRaiseSigpipe) {
  Pair p = MakePair();
  p.raw.reset();
  OutFrame out = MakeFrame(FrameType::kMessage, 0, 1, "x");
  // An AF_UNIX peer that is gone fails the first write with EPIPE; no signal kills us.
  EXPECT_EQ(p.conn->Send({&out, 1}, absl::Now() + kPatience).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ferry
