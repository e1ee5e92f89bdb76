#include "transports/stream/stream_connection.h"

#include <climits>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

absl::Status ClosedError() { return absl::UnavailableError("connection closed"); }

}  // namespace

std::unique_ptr<StreamConnection> StreamConnection::Create(std::unique_ptr<ByteStream> stream,
                                                           std::string peer_description,
                                                           const ConnectionLimits& limits) {
  return std::unique_ptr<StreamConnection>(
      new StreamConnection(std::move(stream), std::move(peer_description), limits));
}

StreamConnection::StreamConnection(std::unique_ptr<ByteStream> stream,
                                   std::string peer_description, const ConnectionLimits& limits)
    : stream_(std::move(stream)),
      peer_description_(std::move(peer_description)),
      gate_([this] { Release(); }),
      framer_(limits.max_frame_payload) {}

StreamConnection::~StreamConnection() {
  Close();
  if (receive_held_) gate_.Leave();  // nobody uses the last frame now: release
}

void StreamConnection::Close() {
  gate_.Close([this] { stream_->Shutdown(); });
}

void StreamConnection::Release() {
  stream_.reset();
  // Nobody is inside Receive(), and the last frame it returned is done with (Receive()
  // holds the gate until its next call).
  framer_.Release();
}

absl::Status StreamConnection::Send(absl::Span<const OutFrame> frames, absl::Time deadline) {
  for (const OutFrame& f : frames) {
    if (f.payload.size() > std::numeric_limits<uint32_t>::max()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("frame payload of ", f.payload.size(), " bytes cannot be framed"));
    }
    if (f.header.payload_length != f.payload.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("frame header announces ", f.header.payload_length,
                       " payload bytes but the payload has ", f.payload.size()));
    }
  }
  CloseGate::Call call(gate_);
  if (!call.entered()) return ClosedError();
  if (peer_closed_.load(std::memory_order_relaxed)) {
    return absl::UnavailableError("peer closed the connection");
  }
  if (frames.empty()) return absl::OkStatus();

  std::lock_guard<std::mutex> lock(send_mu_);
  // Serialise all headers first: iovecs point into headers_, which must not move after.
  headers_.resize(frames.size() * kFrameHeaderSize);
  iov_.clear();
  for (size_t i = 0; i < frames.size(); ++i) {
    char* h = headers_.data() + i * kFrameHeaderSize;
    frames[i].header.Serialize(h);
    iov_.push_back({h, kFrameHeaderSize});
    if (!frames[i].payload.empty()) {
      iov_.push_back({const_cast<char*>(frames[i].payload.data()), frames[i].payload.size()});
    }
  }
  return WriteAll(deadline);
}

absl::Status StreamConnection::WriteAll(absl::Time deadline) {
  size_t next = 0;      // first iovec with bytes left
  bool wrote = false;   // any byte of this Send() is on the wire
  while (next < iov_.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov_.size() - next, IOV_MAX));
    absl::StatusOr<size_t> n = stream_->WriteSome(&iov_[next], count);
    if (n.ok() && *n == 0) {
      absl::Status s = stream_->WaitWritable(deadline);
      if (s.ok()) {
        if (gate_.closed()) n = ClosedError();
        else continue;
      } else {
        n = std::move(s);
      }
    }
    if (!n.ok()) {
      absl::Status error = gate_.closed() ? ClosedError() : n.status();
      if (wrote) {
        // Part of a frame is on the wire; the peer can never resynchronise.
        Close();
        return absl::Status(error.code(), absl::StrCat(error.message(),
                                                       " after a partial send; connection closed"));
      }
      return error;
    }
    wrote = true;
    size_t left = *n;
    while (left > 0 && left >= iov_[next].iov_len) {
      left -= iov_[next].iov_len;
      ++next;
    }
    if (left > 0) {
      iov_[next].iov_base = static_cast<char*>(iov_[next].iov_base) + left;
      iov_[next].iov_len -= left;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Frame> StreamConnection::Receive(absl::Time deadline) {
  if (!receive_held_) {
    if (!gate_.Enter()) return ClosedError();
    receive_held_ = true;
  }
  absl::StatusOr<Frame> r = gate_.closed() ? absl::StatusOr<Frame>(ClosedError())
                                           : ReceiveInside(deadline);
  if (!r.ok()) {
    // No view handed out: leave (after a Close(), this releases the buffers).
    receive_held_ = false;
    gate_.Leave();
  }
  return r;
}

absl::StatusOr<Frame> StreamConnection::ReceiveInside(absl::Time deadline) {
  for (;;) {
    StreamFramer::Result r = framer_.Next();
    if (r.kind == StreamFramer::kFrame) return r.frame;
    if (r.kind == StreamFramer::kError) return r.error;
    if (peer_closed_.load(std::memory_order_relaxed)) {
      return absl::UnavailableError("peer closed the connection");
    }
    absl::Span<char> room = framer_.PrepareRead();
    absl::StatusOr<size_t> n = stream_->Read(room.data(), room.size(), deadline);
    if (gate_.closed()) return ClosedError();
    if (!n.ok()) {
      if (n.status().code() != absl::StatusCode::kDeadlineExceeded) {
        peer_closed_.store(true, std::memory_order_relaxed);
      }
      return n.status();
    }
    if (*n == 0) {
      peer_closed_.store(true, std::memory_order_relaxed);
      return absl::UnavailableError(framer_.mid_frame()
                                        ? "peer closed the connection in the middle of a frame"
                                        : "peer closed the connection");
    }
    framer_.CommitRead(*n);
  }
}

}  // namespace ferry
