#include "transports/shm/raw_shm.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "transports/transport.h"

namespace ferry::shm {
namespace {

constexpr uint64_t kHeader = 8;
constexpr uint64_t kCopyPiece = 64 << 10;

absl::StatusOr<std::pair<Address, ShmOptions>> ParseShm(const std::string& address) {
  absl::StatusOr<Address> a = Address::Parse(address);
  if (!a.ok()) return a.status();
  if (a->scheme != "shm") {
    return absl::InvalidArgumentError(absl::StrCat("not an shm address: ", address));
  }
  ShmOptions options;
  if (absl::Status s = ApplyAddress(*a, &options); !s.ok()) return s;
  return std::make_pair(*std::move(a), std::move(options));
}

}  // namespace

RawShmEndpoint::RawShmEndpoint(Endpoint endpoint)
    : link_(std::make_unique<Link>(std::move(endpoint))) {}

RawShmEndpoint::~RawShmEndpoint() { link_->Shutdown(); }

absl::Status RawShmEndpoint::Failure(Link::Io io) {
  switch (io) {
    case Link::Io::kOk:
      return absl::OkStatus();
    case Link::Io::kTimedOut:
      return absl::DeadlineExceededError("deadline exceeded");
    case Link::Io::kClosed:
      return absl::UnavailableError("endpoint shut down");
    case Link::Io::kPeerGone:
      return absl::UnavailableError(link_->PeerGoneReason());
    case Link::Io::kCorrupt:
      return absl::InvalidArgumentError("the peer corrupted the shared ring");
  }
  return absl::InternalError("unreachable");
}

absl::Status RawShmEndpoint::Send(uint32_t tag, absl::string_view payload, absl::Time deadline) {
  if (payload.size() > kMaxRawMessage) {
    return absl::ResourceExhaustedError(absl::StrCat("raw message of ", payload.size(), " bytes"));
  }
  if (link_->PeerClosed()) return absl::UnavailableError("peer closed the connection");
  const int64_t deadline_ns = DeadlineNs(deadline);
  const uint32_t header[2] = {static_cast<uint32_t>(payload.size()), tag};
  const uint64_t total = kHeader + payload.size();
  RingWriter& out = link_->out();
  if (total <= out.capacity()) {
    if (out.Free(total) < total) {
      if (Link::Io io = link_->WaitWritable(total, deadline_ns); io != Link::Io::kOk) {
        return Failure(io);
      }
    }
    out.Write(header, kHeader);
    out.Write(payload.data(), payload.size());
  } else {
    bool published = false;
    Link::Io io =
        link_->Write(reinterpret_cast<const char*>(header), kHeader, deadline_ns, &published);
    if (io == Link::Io::kOk)
      io = link_->Write(payload.data(), payload.size(), deadline_ns, &published);
    if (io != Link::Io::kOk) {
      if (!published) out.Discard();
      return Failure(io);
    }
  }
  link_->Publish();
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> RawShmEndpoint::Receive(std::string* payload, absl::Time deadline) {
  const int64_t deadline_ns = DeadlineNs(deadline);
  RingReader& in = link_->in();
  // The same release policy as ShmConnection: in batches, and before waiting.
  link_->ReleaseInBatches();
  if (Link::Io io = link_->WaitReadable(kHeader, deadline_ns); io != Link::Io::kOk) {
    return Failure(io);
  }
  uint32_t header[2];
  in.Read(header, kHeader);
  const uint64_t len = header[0];
  if (len > kMaxRawMessage) {
    return absl::ResourceExhaustedError(absl::StrCat("raw message of ", len, " bytes"));
  }
  payload->resize(len);
  char* dst = payload->empty() ? nullptr : &(*payload)[0];
  uint64_t got = 0;
  while (got < len) {
    const uint64_t avail = in.Available(1);
    if (avail == 0) {
      if (Link::Io io = link_->WaitReadable(1, deadline_ns); io != Link::Io::kOk) {
        return Failure(io);
      }
      continue;
    }
    const uint64_t n = std::min({avail, len - got, kCopyPiece});
    in.Read(dst + got, n);
    got += n;
    if (got < len) link_->Release();
  }
  return header[1];
}

absl::Status RawShmEndpoint::RoundTrip(absl::string_view payload, std::string* reply,
                                       absl::Time deadline) {
  if (absl::Status s = Send(0, payload, deadline); !s.ok()) return s;
  return Receive(reply, deadline).status();
}

absl::StatusOr<std::unique_ptr<RawShmEndpoint>> RawShmConnect(const std::string& address,
                                                              absl::Time deadline) {
  auto parsed = ParseShm(address);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<Endpoint> ep = ConnectEndpoint(parsed->first.target, parsed->second, deadline);
  if (!ep.ok()) return ep.status();
  return std::make_unique<RawShmEndpoint>(*std::move(ep));
}

// ---- Listener -----------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<RawShmListener>> RawShmListener::Listen(const std::string& address) {
  auto parsed = ParseShm(address);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<UniqueFd> fd = ListenRendezvous(parsed->first.target, 64);
  if (!fd.ok()) return fd.status();
  Address canonical = parsed->first;
  canonical.slashes = true;
  return std::unique_ptr<RawShmListener>(new RawShmListener(*std::move(fd), canonical.ToString(),
                                                            parsed->first.target, parsed->second));
}

RawShmListener::RawShmListener(UniqueFd fd, std::string address, std::string name,
                               ShmOptions options)
    : fd_(std::move(fd)),
      address_(std::move(address)),
      name_(std::move(name)),
      options_(std::move(options)),
      gate_([this] { fd_.reset(); }) {}

RawShmListener::~RawShmListener() { Close(); }

void RawShmListener::Close() {
  gate_.Close([this] { ::shutdown(fd_.get(), SHUT_RDWR); });
}

absl::StatusOr<std::unique_ptr<RawShmEndpoint>> RawShmListener::Accept() {
  CloseGate::Call call(gate_);
  if (!call.entered()) return absl::UnavailableError(address_ + ": listener closed");
  for (;;) {
    const int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (gate_.closed()) {
      if (fd >= 0) ::close(fd);
      return absl::UnavailableError(address_ + ": listener closed");
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return absl::InternalError(absl::StrCat("accept4: ", std::strerror(errno)));
    }
    absl::StatusOr<Endpoint> ep = AcceptEndpoint(UniqueFd(fd), name_, options_);
    if (ep.ok()) return std::make_unique<RawShmEndpoint>(*std::move(ep));
  }
}

// ---- Echo server --------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<RawShmEchoServer>> RawShmEchoServer::Start(
    const std::string& address) {
  absl::StatusOr<std::unique_ptr<RawShmListener>> listener = RawShmListener::Listen(address);
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<RawShmEchoServer>(new RawShmEchoServer(*std::move(listener)));
}

RawShmEchoServer::RawShmEchoServer(std::unique_ptr<RawShmListener> listener)
    : listener_(std::move(listener)), accept_thread_(&RawShmEchoServer::AcceptLoop, this) {}

RawShmEchoServer::~RawShmEchoServer() { Shutdown(); }

void RawShmEchoServer::AcceptLoop() {
  for (;;) {
    absl::StatusOr<std::unique_ptr<RawShmEndpoint>> ep = listener_->Accept();
    if (!ep.ok()) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    RawShmEndpoint* e = ep->get();
    endpoints_.push_back(*std::move(ep));
    threads_.emplace_back([e] {
      std::string buf;
      for (;;) {
        absl::StatusOr<uint32_t> tag = e->Receive(&buf);
        if (!tag.ok() || !e->Send(*tag, buf).ok()) return;
      }
    });
  }
}

void RawShmEchoServer::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& e : endpoints_) e->Shutdown();
  }
  listener_->Close();
  if (accept_thread_.joinable()) accept_thread_.join();
  for (std::thread& t : threads_) t.join();
  endpoints_.clear();
}

}  // namespace ferry::shm
