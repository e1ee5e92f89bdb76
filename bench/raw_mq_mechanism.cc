#include "bench/raw_mq_mechanism.h"

#include <fcntl.h>
#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/status.h"
#include "transports/mq/mq_transport.h"
#include "transports/msgq/process.h"
#include "transports/sysv/sysv_transport.h"

namespace ferry::bench {
namespace {

constexpr char kEchoByte = 'E';
constexpr char kCpuByte = 'Q';
constexpr char kShutdownByte = 'Z';
constexpr size_t kFirstHeader = 5;  // kind + 4-byte total length

// One direction pair of a raw connection: put a message to the peer, get one from it.
class Wire {
 public:
  virtual ~Wire() = default;
  virtual absl::Status Put(const char* m, size_t n) = 0;   // blocks while full
  virtual absl::StatusOr<size_t> Get(char* buf) = 0;        // blocks while empty
  virtual void PutNoWait(bool to_self, const char* m, size_t n) = 0;
  virtual size_t max() const = 0;     // largest message to the peer
  virtual size_t max_in() const = 0;  // largest message from it
};

class WireEndpoint final : public RawEndpoint {
 public:
  explicit WireEndpoint(std::unique_ptr<Wire> w)
      : w_(std::move(w)), tx_(w_->max()), rx_(w_->max_in()) {}
  ~WireEndpoint() override { Shutdown(); }

  absl::Status Send(RawKind kind, absl::string_view payload) override {
    const size_t max = w_->max();
    tx_[0] = kind == RawKind::kCpuRequest ? kCpuByte : kEchoByte;
    absl::big_endian::Store32(&tx_[1], static_cast<uint32_t>(payload.size()));
    size_t first = std::min(payload.size(), max - kFirstHeader);
    if (first > 0) std::memcpy(&tx_[kFirstHeader], payload.data(), first);
    if (absl::Status s = w_->Put(tx_.data(), kFirstHeader + first); !s.ok()) return s;
    for (size_t at = first; at < payload.size();) {
      const size_t n = std::min(max, payload.size() - at);
      if (absl::Status s = w_->Put(payload.data() + at, n); !s.ok()) return s;
      at += n;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<RawKind> Receive(std::string* payload) override {
    absl::StatusOr<size_t> n = w_->Get(rx_.data());
    if (!n.ok()) return n.status();
    if (*n < kFirstHeader || rx_[0] == kShutdownByte) {
      return absl::UnavailableError("raw queue peer shut down");
    }
    if (rx_[0] != kEchoByte && rx_[0] != kCpuByte) {
      return absl::InvalidArgumentError("raw queue message of unknown kind");
    }
    const RawKind kind = rx_[0] == kCpuByte ? RawKind::kCpuRequest : RawKind::kEcho;
    const size_t total = absl::big_endian::Load32(&rx_[1]);
    if (total > kMaxPayload) return absl::ResourceExhaustedError("raw message too long");
    payload->resize(total);
    size_t got = std::min(total, *n - kFirstHeader);
    if (got > 0) std::memcpy(payload->data(), &rx_[kFirstHeader], got);
    while (got < total) {
      n = w_->Get(rx_.data());
      if (!n.ok()) return n.status();
      if (*n == kFirstHeader && rx_[0] == kShutdownByte) {
        return absl::UnavailableError("raw queue peer shut down");
      }
      const size_t take = std::min(*n, total - got);
      std::memcpy(payload->data() + got, rx_.data(), take);
      got += take;
    }
    return kind;
  }

  void Shutdown() override {
    if (shut_.exchange(true)) return;
    char z[kFirstHeader] = {kShutdownByte, 0, 0, 0, 0};
    w_->PutNoWait(/*to_self=*/true, z, sizeof(z));
    w_->PutNoWait(/*to_self=*/false, z, sizeof(z));
  }

 private:
  std::unique_ptr<Wire> w_;
  std::vector<char> tx_, rx_;
  std::atomic<bool> shut_{false};
};

// ---- POSIX mq -----------------------------------------------------------------------------

mqd_t MakeQueue(const std::string& name, int flags, int share) {
  ::mq_unlink(name.c_str());  // names carry our pid: anything there is a dead run's
  // Sized exactly as Ferry's mq:// sizes its queues.
  absl::StatusOr<mqd_t> q = mq::CreateMqd(name, 0, 0, flags, share);
  if (!q.ok()) {
    errno = q.status().code() == absl::StatusCode::kResourceExhausted ? EMFILE : EINVAL;
    return static_cast<mqd_t>(-1);
  }
  return *q;
}

size_t MsgSize(mqd_t q) {
  mq_attr a{};
  ::mq_getattr(q, &a);
  return static_cast<size_t>(a.mq_msgsize);
}

class MqWire final : public Wire {
 public:
  // Owns both descriptors; unlinks `names` on destruction (the creator's job).
  MqWire(mqd_t in, mqd_t out, std::vector<std::string> names)
      : in_(in),
        out_(out),
        in_max_(MsgSize(in)),
        max_(MsgSize(out)),
        names_(std::move(names)) {}
  ~MqWire() override {
    ::mq_close(in_);
    ::mq_close(out_);
    for (const std::string& n : names_) ::mq_unlink(n.c_str());
  }
  absl::Status Put(const char* m, size_t n) override {
    for (;;) {
      if (::mq_send(out_, m, n, 0) == 0) return absl::OkStatus();
      if (errno != EINTR) return ErrnoStatus("mq_send", errno);
    }
  }
  absl::StatusOr<size_t> Get(char* buf) override {
    for (;;) {
      const ssize_t n = ::mq_receive(in_, buf, in_max_, nullptr);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return ErrnoStatus("mq_receive", errno);
    }
  }
  void PutNoWait(bool to_self, const char* m, size_t n) override {
    const timespec past{0, 0};
    ::mq_timedsend(to_self ? in_ : out_, m, n, 1, &past);
  }
  size_t max() const override { return max_; }
  size_t max_in() const override { return in_max_; }

 private:
  const mqd_t in_, out_;
  const size_t in_max_;  // receive buffers must hold the incoming queue's message size
  const size_t max_;
  const std::vector<std::string> names_;
};

class MqRawListener final : public RawListener {
 public:
  MqRawListener(mqd_t q, std::string qname, std::string address)
      : q_(q), qname_(std::move(qname)), address_(std::move(address)), buf_(MsgSize(q)) {}
  ~MqRawListener() override {
    Close();
    ::mq_close(q_);
  }

  absl::StatusOr<std::unique_ptr<RawEndpoint>> Accept() override {
    for (;;) {
      if (closed_) return absl::UnavailableError("raw mq listener closed");
      const ssize_t n = ::mq_receive(q_, buf_.data(), buf_.size(), nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("mq_receive", errno);
      }
      const std::string m(buf_.data(), static_cast<size_t>(n));
      if (m.empty() || m[0] != 'C') continue;  // the wake-up from Close(), or junk
      std::vector<std::string> names = absl::StrSplit(m.substr(1), ' ');
      if (names.size() != 2) continue;
      const mqd_t in = ::mq_open(names[0].c_str(), O_RDWR | O_CLOEXEC);
      const mqd_t out = ::mq_open(names[1].c_str(), O_WRONLY | O_CLOEXEC);
      if (in == static_cast<mqd_t>(-1) || out == static_cast<mqd_t>(-1)) {
        if (in != static_cast<mqd_t>(-1)) ::mq_close(in);
        if (out != static_cast<mqd_t>(-1)) ::mq_close(out);
        continue;
      }
      return std::unique_ptr<RawEndpoint>(
          new WireEndpoint(std::make_unique<MqWire>(in, out, std::vector<std::string>{})));
    }
  }
  void Close() override {
    if (closed_.exchange(true)) return;
    ::mq_unlink(qname_.c_str());
    const timespec past{0, 0};
    ::mq_timedsend(q_, "X", 1, 1, &past);  // wakes Accept()
  }
  std::string address() const override { return address_; }

 private:
  const mqd_t q_;
  const std::string qname_, address_;
  std::vector<char> buf_;
  std::atomic<bool> closed_{false};
};

// ---- SysV ---------------------------------------------------------------------------------

std::string SysvRecord(const std::string& name) { return absl::StrCat("sysvraw.", name); }

size_t SysvMax(int id) {
  const sysv::SysvLimits lim = sysv::ReadSysvLimits();
  msqid_ds ds{};
  long m = lim.msgmax > 0 ? lim.msgmax : 8192;
  if (::msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qbytes > 0) {
    m = std::min<long>(m, static_cast<long>(ds.msg_qbytes));
  }
  return static_cast<size_t>(m);
}

class SysvWire final : public Wire {
 public:
  SysvWire(int id, long in_type, long out_type)
      : id_(id), in_(in_type), out_(out_type), max_(SysvMax(id)), buf_(sizeof(long) + max_) {}
  absl::Status Put(const char* m, size_t n) override {
    std::memcpy(buf_.data(), &out_, sizeof(long));
    std::memcpy(buf_.data() + sizeof(long), m, n);
    for (;;) {
      if (::msgsnd(id_, buf_.data(), n, 0) == 0) return absl::OkStatus();
      if (errno != EINTR) return ErrnoStatus("msgsnd", errno);
    }
  }
  absl::StatusOr<size_t> Get(char* buf) override {
    for (;;) {
      const ssize_t n = ::msgrcv(id_, rbuf(), max_, in_, MSG_NOERROR);
      if (n >= 0) {
        std::memcpy(buf, rbuf() + sizeof(long), static_cast<size_t>(n));
        return static_cast<size_t>(n);
      }
      if (errno != EINTR) return ErrnoStatus("msgrcv", errno);
    }
  }
  void PutNoWait(bool to_self, const char* m, size_t n) override {
    std::vector<char> b(sizeof(long) + n);
    const long type = to_self ? in_ : out_;
    std::memcpy(b.data(), &type, sizeof(long));
    std::memcpy(b.data() + sizeof(long), m, n);
    ::msgsnd(id_, b.data(), n, IPC_NOWAIT);
  }
  size_t max() const override { return max_; }
  size_t max_in() const override { return max_; }

 private:
  char* rbuf() {
    if (rbuf_.empty()) rbuf_.resize(sizeof(long) + max_);
    return rbuf_.data();
  }
  const int id_;
  const long in_, out_;
  const size_t max_;
  std::vector<char> buf_, rbuf_;
};

class SysvRawListener final : public RawListener {
 public:
  SysvRawListener(int id, std::string name, std::string address)
      : id_(id), name_(std::move(name)), address_(std::move(address)) {}
  ~SysvRawListener() override {
    Close();
    ::msgctl(id_, IPC_RMID, nullptr);
  }
  absl::StatusOr<std::unique_ptr<RawEndpoint>> Accept() override {
    struct {
      long mtype;
      char text[64];
    } m;
    for (;;) {
      if (closed_) return absl::UnavailableError("raw sysv listener closed");
      const ssize_t n = ::msgrcv(id_, &m, sizeof(m.text), 1, MSG_NOERROR);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EIDRM || errno == EINVAL) return absl::UnavailableError("queue removed");
        return ErrnoStatus("msgrcv", errno);
      }
      long base = 0;
      if (n < 2 || m.text[0] != 'C' ||
          !absl::SimpleAtoi(absl::string_view(m.text + 1, static_cast<size_t>(n) - 1), &base) ||
          base < 16) {
        continue;  // Close()'s wake-up, or junk
      }
      return std::unique_ptr<RawEndpoint>(
          new WireEndpoint(std::make_unique<SysvWire>(id_, base, base + 1)));
    }
  }
  void Close() override {
    if (closed_.exchange(true)) return;
    msgq::RemoveRecord(SysvRecord(name_));
    struct {
      long mtype;
      char text[1];
    } m{1, {'X'}};
    ::msgsnd(id_, &m, 1, IPC_NOWAIT);
  }
  std::string address() const override { return address_; }

 private:
  const int id_;
  const std::string name_, address_;
  std::atomic<bool> closed_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<RawListener>> MqRawMechanism::Listen(const Address& address) const {
  const std::string qname = absl::StrCat("/ferry-raw.", address.target);
  const mqd_t q = MakeQueue(qname, O_RDWR, mq::kServerQueueShare);
  if (q == static_cast<mqd_t>(-1)) return ErrnoStatus(absl::StrCat("mq_open(", qname, ")"), errno);
  return std::unique_ptr<RawListener>(new MqRawListener(q, qname, address.ToString()));
}

absl::StatusOr<std::unique_ptr<RawEndpoint>> MqRawMechanism::Connect(const Address& address,
                                                                     absl::Time) const {
  static std::atomic<uint64_t> counter{0};
  const std::string lname = absl::StrCat("/ferry-raw.", address.target);
  const mqd_t listener = ::mq_open(lname.c_str(), O_WRONLY | O_CLOEXEC);
  if (listener == static_cast<mqd_t>(-1)) {
    return absl::UnavailableError(absl::StrCat("no raw mq listener ", lname));
  }
  const std::string base =
      absl::StrCat("/ferry-raw.", address.target, "+", ::getpid(), ".", counter.fetch_add(1));
  const std::string req = base + ".req", rep = base + ".rep";
  const mqd_t out = MakeQueue(req, O_WRONLY, mq::kClientQueueShare);
  const mqd_t in = MakeQueue(rep, O_RDWR, mq::kClientQueueShare);
  if (out == static_cast<mqd_t>(-1) || in == static_cast<mqd_t>(-1)) {
    const int err = errno;
    ::mq_close(listener);
    if (out != static_cast<mqd_t>(-1)) ::mq_close(out);
    if (in != static_cast<mqd_t>(-1)) ::mq_close(in);
    ::mq_unlink(req.c_str());
    ::mq_unlink(rep.c_str());
    return ErrnoStatus("mq_open (raw connection queues)", err);
  }
  const std::string hello = absl::StrCat("C", req, " ", rep);
  const int sent = ::mq_send(listener, hello.data(), hello.size(), 0);
  const int err = errno;
  ::mq_close(listener);
  auto wire = std::make_unique<MqWire>(in, out, std::vector<std::string>{req, rep});
  if (sent != 0) return ErrnoStatus("mq_send (raw connect)", err);
  return std::unique_ptr<RawEndpoint>(new WireEndpoint(std::move(wire)));
}

absl::StatusOr<std::unique_ptr<RawListener>> SysvRawMechanism::Listen(
    const Address& address) const {
  const int id = ::msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (id < 0) return ErrnoStatus("msgget", errno);
  // The same queue size Ferry's sysv:// asks for (granted only with CAP_SYS_RESOURCE).
  msqid_ds ds{};
  if (::msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qbytes < (1u << 20)) {
    ds.msg_qbytes = 1u << 20;
    ::msgctl(id, IPC_SET, &ds);
  }
  const std::string name = address.target;
  msgq::RemoveRecord(SysvRecord(name));
  const msgq::Record r{::getpid(), msgq::ProcessStartTime(::getpid()), absl::StrCat(id)};
  if (absl::Status s = msgq::CreateRecord(SysvRecord(name), r); !s.ok()) {
    ::msgctl(id, IPC_RMID, nullptr);
    return s;
  }
  return std::unique_ptr<RawListener>(new SysvRawListener(id, name, address.ToString()));
}

absl::StatusOr<std::unique_ptr<RawEndpoint>> SysvRawMechanism::Connect(const Address& address,
                                                                       absl::Time) const {
  static std::atomic<uint64_t> counter{0};
  absl::StatusOr<msgq::Record> r = msgq::ReadRecord(SysvRecord(address.target));
  int id = -1;
  if (!r.ok() || !absl::SimpleAtoi(r->extra, &id)) {
    return absl::UnavailableError(absl::StrCat("no raw sysv listener ", address.ToString()));
  }
  const long base = 16 + (static_cast<long>(::getpid()) << 20) +
                    2 * static_cast<long>(counter.fetch_add(1) & 0x7FFFF);
  const std::string hello = absl::StrCat("C", base);
  std::vector<char> m(sizeof(long) + hello.size());
  const long one = 1;
  std::memcpy(m.data(), &one, sizeof(long));
  std::memcpy(m.data() + sizeof(long), hello.data(), hello.size());
  if (::msgsnd(id, m.data(), hello.size(), 0) != 0) return ErrnoStatus("msgsnd (raw connect)", errno);
  // The client sends requests on `base` and reads replies on base + 1.
  return std::unique_ptr<RawEndpoint>(new WireEndpoint(std::make_unique<SysvWire>(id, base + 1, base)));
}

}  // namespace ferry::bench
