#include "transports/shm/shm_connection.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace ferry::shm {
namespace {

absl::Status ClosedError() { return absl::UnavailableError("connection closed"); }

// How much of a streamed payload is copied before its ring space is handed back: large
// enough that the release (a store and a fence) is noise, small enough that the writer
// refills the ring while we copy.
constexpr uint64_t kCopyPiece = 64 << 10;

}  // namespace

// A streamed payload's bytes as a protobuf input stream, read in place from the ring as
// they arrive. The reader is done with a piece when it asks for the next one, so the
// space of what it has read goes back to the writer (in pieces of kCopyPiece, or before
// waiting), which keeps a payload larger than the ring flowing.
class RingInputStream final : public google::protobuf::io::ZeroCopyInputStream {
 public:
  // `left`: the payload bytes not yet handed out, shared with the connection (which
  // skips what is left at its next Receive).
  RingInputStream(Link& link, uint64_t* left) : link_(link), left_(left) {}

  // For the next streamed frame.
  void Reset() {
    count_ = 0;
    io_ = Link::Io::kOk;
  }

  bool Next(const void** data, int* size) override {
    RingReader& in = link_.in();
    while (*left_ > 0 && io_ == Link::Io::kOk) {
      const uint64_t avail = in.Available(std::min(*left_, kCopyPiece));
      if (avail == 0) {
        // The writer is mid-frame and waits only for room we make: a wait this long
        // means it has stopped.
        io_ = link_.WaitReadable(
            1, SaturatingAdd(NowNs(), absl::ToInt64Nanoseconds(kStreamStallLimit)));
        continue;
      }
      if (in.unreleased() >= kCopyPiece) link_.Release();
      uint64_t n;
      *data = in.Take(std::min({avail, *left_, uint64_t{1} << 30}), &n);
      *size = static_cast<int>(n);
      *left_ -= n;
      count_ += n;
      return true;
    }
    return false;  // the end of the payload, or torn (io())
  }
  void BackUp(int count) override {
    link_.in().Untake(static_cast<uint64_t>(count));
    *left_ += static_cast<uint64_t>(count);
    count_ -= static_cast<uint64_t>(count);
  }
  bool Skip(int count) override {
    const void* data;
    int size;
    while (count > 0) {
      if (!Next(&data, &size)) return false;
      if (size > count) {
        BackUp(size - count);
        size = count;
      }
      count -= size;
    }
    return true;
  }
  int64_t ByteCount() const override { return static_cast<int64_t>(count_); }

  // Why Next() stopped before the end of the payload; kOk if it did not.
  Link::Io io() const { return io_; }

 private:
  Link& link_;
  uint64_t* const left_;
  uint64_t count_ = 0;
  Link::Io io_ = Link::Io::kOk;
};

std::unique_ptr<ShmConnection> ShmConnection::Create(Endpoint endpoint,
                                                     const ConnectionLimits& limits) {
  return std::unique_ptr<ShmConnection>(new ShmConnection(std::move(endpoint), limits));
}

ShmConnection::ShmConnection(Endpoint endpoint, const ConnectionLimits& limits)
    : description_(endpoint.description),
      max_payload_(limits.max_frame_payload),
      link_(std::make_unique<Link>(std::move(endpoint))),
      gate_([this] { link_.reset(); }) {}

ShmConnection::~ShmConnection() {
  Close();
  if (receive_held_) gate_.Leave(CallGate::kReceive);  // the last frame is done with
}

void ShmConnection::Close() {
  gate_.Close([this] { link_->Shutdown(); });
}

absl::Status ShmConnection::IoError(Link::Io io, bool mid_frame) {
  switch (io) {
    case Link::Io::kOk:
      return absl::OkStatus();
    case Link::Io::kTimedOut:
      return absl::DeadlineExceededError("deadline exceeded");
    case Link::Io::kClosed:
      return ClosedError();
    case Link::Io::kPeerGone:
      return absl::UnavailableError(absl::StrCat(
          link_->PeerGoneReason(), mid_frame ? " in the middle of a frame" : ""));
    case Link::Io::kCorrupt:
      return absl::InvalidArgumentError(
          "the peer wrote an impossible index into the shared ring; connection is unusable");
  }
  return absl::InternalError("unreachable");
}

template <typename Fn>
absl::Status ShmConnection::WithSendLock(absl::Time deadline, Fn send) {
  if (gate_.closed()) return ClosedError();
  if (!send_lock_.TryLock() && !send_lock_.LockUntil(DeadlineNs(deadline))) {
    return absl::DeadlineExceededError("deadline exceeded waiting for another Send()");
  }
  struct Unlock {
    TimedLock& lock;
    ~Unlock() { lock.Unlock(); }
  } unlock{send_lock_};
  // Inside the lock: the gate's send slot takes one thread at a time.
  CallGate::Call call(gate_, CallGate::kSend);
  if (!call.entered()) return ClosedError();
  if (link_->PeerClosed()) return absl::UnavailableError("peer closed the connection");
  return send();
}

absl::Status ShmConnection::Send(absl::Span<const OutFrame> frames, absl::Time deadline) {
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
  return WithSendLock(deadline, [&] {
    return frames.empty() ? absl::OkStatus() : SendLocked(frames, deadline);
  });
}

absl::Status ShmConnection::SendLocked(absl::Span<const OutFrame> frames, absl::Time deadline) {
  Link& link = *link_;
  const int64_t deadline_ns = DeadlineNs(deadline);
  uint64_t total = 0;
  for (const OutFrame& f : frames) total += kFrameHeaderSize + f.payload.size();

  if (total <= link.out().capacity()) {
    // The whole call fits in the ring: wait for room for all of it first, then write it in
    // one go. A timeout here has written nothing, so the connection stays usable.
    if (link.out().Free(total) < total) {
      if (Link::Io io = link.WaitWritable(total, deadline_ns); io != Link::Io::kOk) {
        if (io == Link::Io::kCorrupt) Close();  // the peer's index cannot be trusted again
        return IoError(io, /*mid_frame=*/false);
      }
    }
    for (const OutFrame& f : frames) {
      char header[kFrameHeaderSize];
      f.header.Serialize(header);
      link.out().Write(header, kFrameHeaderSize);
      link.out().Write(f.payload.data(), f.payload.size());
    }
    link.Publish();
    return absl::OkStatus();
  }

  // Larger than the ring: stream it through, publishing pieces as room frees up.
  bool published_any = false;
  Link::Io io = Link::Io::kOk;
  for (const OutFrame& f : frames) {
    char header[kFrameHeaderSize];
    f.header.Serialize(header);
    io = link.Write(header, kFrameHeaderSize, deadline_ns, &published_any);
    if (io != Link::Io::kOk) break;
    io = link.Write(f.payload.data(), f.payload.size(), deadline_ns, &published_any);
    if (io != Link::Io::kOk) break;
  }
  if (io == Link::Io::kOk) {
    link.Publish();
    return absl::OkStatus();
  }
  return FailPartialSend(io, published_any);
}

absl::Status ShmConnection::FailPartialSend(Link::Io io, bool published_any) {
  absl::Status error = IoError(io, /*mid_frame=*/false);
  if (!published_any && io != Link::Io::kCorrupt) {
    // Nothing reached the peer: forget what was written and keep the connection.
    link_->out().Discard();
    return error;
  }
  // Part of a frame is visible to the peer; it can never resynchronise.
  Close();
  return absl::Status(error.code(),
                      absl::StrCat(error.message(), " after a partial send; connection closed"));
}

namespace {

// protobuf writes a field of up to this many bytes at once while its position is short
// of the end it was given, so an in-place serialization gets this much room beyond the
// message: a message changed since its size was taken then overruns into free space,
// never into bytes the reader has not consumed, and the size check below catches it.
constexpr uint64_t kSerializeSlop = 16;

// The ring's free space as a protobuf output stream. Streaming (a frame larger than the
// ring), it publishes what was written in pieces and waits for the reader to make room;
// otherwise the caller has made room for the whole frame and nothing is published or
// waited for here (a message that outgrows that room makes Next() fail, io() kOk).
class RingOutputStream final : public google::protobuf::io::ZeroCopyOutputStream {
 public:
  RingOutputStream(Link& link, uint64_t expected, bool streaming, int64_t deadline_ns,
                   bool* published_any)
      : link_(link),
        expected_(expected),
        streaming_(streaming),
        deadline_ns_(deadline_ns),
        published_any_(published_any) {}

  bool Next(void** data, int* size) override {
    RingWriter& out = link_.out();
    const uint64_t chunk = link_.publish_chunk();
    for (;;) {
      if (streaming_ && out.unpublished() >= chunk) {
        link_.Publish();
        *published_any_ = true;
      }
      const uint64_t left = expected_ > count_ ? expected_ - count_ : 1;
      const uint64_t want = std::min(left, chunk);
      const uint64_t free = out.Free(want);
      if (free == 0) {
        if (!streaming_ || out.corrupt()) {
          io_ = out.corrupt() ? Link::Io::kCorrupt : Link::Io::kOk;
          return false;
        }
        if (out.unpublished() > 0) {
          link_.Publish();
          *published_any_ = true;
        }
        io_ = link_.WaitWritable(std::min(want, out.capacity()), deadline_ns_);
        if (io_ != Link::Io::kOk) return false;
        continue;
      }
      uint64_t n;
      char* at = out.Reserve(std::min({free, chunk, uint64_t{1} << 30}), &n);
      *data = at;
      *size = static_cast<int>(n);
      count_ += n;
      return true;
    }
  }
  void BackUp(int count) override {
    link_.out().Unreserve(static_cast<uint64_t>(count));
    count_ -= static_cast<uint64_t>(count);
  }
  int64_t ByteCount() const override { return static_cast<int64_t>(count_); }

  // Why Next() failed: kOk with no room means the message outgrew its size.
  Link::Io io() const { return io_; }

 private:
  Link& link_;
  const uint64_t expected_;
  const bool streaming_;
  const int64_t deadline_ns_;
  bool* const published_any_;
  uint64_t count_ = 0;
  Link::Io io_ = Link::Io::kOk;
};

// Serializes `message` through `stream`; true if protobuf wrote exactly `message_size`
// bytes without a stream error (see stream.io() for why one failed).
bool SerializeThrough(RingOutputStream& stream, const google::protobuf::MessageLite& message,
                      size_t message_size) {
  bool ok;
  {
    google::protobuf::io::CodedOutputStream coded(&stream);
    message.SerializeWithCachedSizes(&coded);
    ok = !coded.HadError();
  }  // (the destructor backs up what protobuf did not use)
  return ok && stream.ByteCount() == static_cast<int64_t>(message_size);
}

}  // namespace

absl::Status ShmConnection::SendMessage(const FrameHeader& header, absl::string_view prefix,
                                        const google::protobuf::MessageLite& message,
                                        size_t message_size, absl::Time deadline) {
  if (absl::Status s = CheckMessageFrame(header, prefix.size(), message_size); !s.ok()) {
    return s;
  }
  return WithSendLock(deadline, [&] {
    return SendMessageLocked(header, prefix, message, message_size, deadline);
  });
}

absl::Status ShmConnection::SendMessageLocked(const FrameHeader& header,
                                              absl::string_view prefix,
                                              const google::protobuf::MessageLite& message,
                                              size_t message_size, absl::Time deadline) {
  Link& link = *link_;
  RingWriter& out = link.out();
  const int64_t deadline_ns = DeadlineNs(deadline);
  const uint64_t total = kFrameHeaderSize + header.payload_length;
  char header_bytes[kFrameHeaderSize];
  header.Serialize(header_bytes);

  if (total <= out.capacity()) {
    // As in SendLocked: room for the whole frame first, so a timeout writes nothing.
    if (out.Free(total) < total) {
      if (Link::Io io = link.WaitWritable(total, deadline_ns); io != Link::Io::kOk) {
        if (io == Link::Io::kCorrupt) Close();
        return IoError(io, /*mid_frame=*/false);
      }
    }
    out.Write(header_bytes, kFrameHeaderSize);
    out.Write(prefix.data(), prefix.size());
    if (message_size == 0) {
      link.Publish();
      return absl::OkStatus();
    }
    uint64_t room;
    char* at = out.Reserve(out.Free(message_size + kSerializeSlop), &room);
    if (room >= message_size + kSerializeSlop) {
      // The common case: the message goes straight to its place in the ring.
      uint8_t* const begin = reinterpret_cast<uint8_t*>(at);
      const bool exact = message.SerializeWithCachedSizesToArray(begin) == begin + message_size;
      out.Unreserve(room - message_size);
      if (!exact) {
        out.Discard();
        return SerializedSizeMismatch(message, message_size);
      }
    } else {
      // It would wrap around the ring's end (or end too close to it): in two pieces.
      out.Unreserve(room);
      bool unused = false;
      RingOutputStream stream(link, message_size, /*streaming=*/false, deadline_ns, &unused);
      if (!SerializeThrough(stream, message, message_size)) {
        out.Discard();
        if (stream.io() == Link::Io::kCorrupt) {
          Close();
          return IoError(Link::Io::kCorrupt, /*mid_frame=*/false);
        }
        return SerializedSizeMismatch(message, message_size);
      }
    }
    link.Publish();
    return absl::OkStatus();
  }

  // Larger than the ring: streamed, serializing into each piece of room as it frees up.
  bool published_any = false;
  Link::Io io = link.Write(header_bytes, kFrameHeaderSize, deadline_ns, &published_any);
  if (io == Link::Io::kOk) io = link.Write(prefix.data(), prefix.size(), deadline_ns, &published_any);
  if (io == Link::Io::kOk && message_size > 0) {
    RingOutputStream stream(link, message_size, /*streaming=*/true, deadline_ns, &published_any);
    if (!SerializeThrough(stream, message, message_size)) {
      if (stream.io() != Link::Io::kOk) {
        io = stream.io();  // deadline, peer gone, corrupt: as for any streamed Send
      } else if (published_any) {
        Close();
        return absl::InternalError(absl::StrCat(
            SerializedSizeMismatch(message, message_size).message(),
            " after a partial send; connection closed"));
      } else {
        out.Discard();
        return SerializedSizeMismatch(message, message_size);
      }
    }
  }
  if (io == Link::Io::kOk) {
    link.Publish();
    return absl::OkStatus();
  }
  return FailPartialSend(io, published_any);
}

char* ShmConnection::Buffer(uint64_t n) {
  if (n > buffer_capacity_) {
    buffer_.reset(new char[n]);  // default-initialised: no memset of up to 4 MiB
    buffer_capacity_ = n;
  }
  return buffer_.get();
}

absl::StatusOr<Frame> ShmConnection::Receive(absl::Time deadline) {
  return ReceiveEntered(deadline, std::numeric_limits<uint64_t>::max());
}

absl::StatusOr<Frame> ShmConnection::ReceiveStreaming(absl::Time deadline,
                                                      uint64_t stream_from) {
  return ReceiveEntered(deadline, std::max<uint64_t>(stream_from, 1));
}

absl::StatusOr<Frame> ShmConnection::ReceiveEntered(absl::Time deadline, uint64_t stream_from) {
  stream_ready_ = false;
  if (!receive_held_) {
    if (!gate_.Enter(CallGate::kReceive)) return ClosedError();
    receive_held_ = true;
  }
  absl::StatusOr<Frame> r = gate_.closed() ? absl::StatusOr<Frame>(ClosedError())
                                           : ReceiveInside(deadline, stream_from);
  if (!r.ok()) {
    // No view handed out: leave (after a Close(), this releases the link).
    receive_held_ = false;
    gate_.Leave(CallGate::kReceive);
  }
  return r;
}

google::protobuf::io::ZeroCopyInputStream* ShmConnection::StreamedPayload() {
  return stream_ready_ ? stream_.get() : nullptr;
}

absl::Status ShmConnection::StreamedPayloadStatus() { return StickyError(); }

absl::Status ShmConnection::StickyError() {
  if (sticky_.ok() && stream_ != nullptr && stream_->io() != Link::Io::kOk) {
    // A streamed frame is torn: nothing after it can be read.
    stream_left_ = 0;
    sticky_ = stream_->io() == Link::Io::kTimedOut
                  ? absl::UnavailableError(absl::StrCat(
                        "the peer sent nothing for ", absl::FormatDuration(kStreamStallLimit),
                        " in the middle of a frame"))
                  : IoError(stream_->io(), /*mid_frame=*/true);
  }
  return sticky_;
}

absl::StatusOr<Frame> ShmConnection::ReceiveInside(absl::Time deadline, uint64_t stream_from) {
  // (Checked here first: the common case, nothing wrong, costs two tests.)
  if (!sticky_.ok() || (stream_ != nullptr && stream_->io() != Link::Io::kOk)) {
    return StickyError();
  }
  Link& link = *link_;
  RingReader& in = link.in();
  // The frame returned last time (if it was a view into the ring) is done with now; its
  // space goes back to the writer in batches, or before this call waits.
  link.ReleaseInBatches();
  const int64_t deadline_ns = DeadlineNs(deadline);

  // What the caller left of a streamed payload (all of it if it never parsed it, the rest
  // if the bytes were not a valid message) is skipped as it arrives.
  while (stream_left_ > 0) {
    const uint64_t avail = in.Available(1);
    if (avail == 0) {
      if (Link::Io io = link.WaitReadable(1, deadline_ns); io != Link::Io::kOk) {
        absl::Status s = IoError(io, /*mid_frame=*/true);
        if (io == Link::Io::kCorrupt) sticky_ = s;
        return s;  // the rest is skipped by the next call
      }
      continue;
    }
    const uint64_t n = std::min(avail, stream_left_);
    in.Skip(n);
    stream_left_ -= n;
    link.ReleaseInBatches();
  }

  if (!have_header_) {
    if (Link::Io io = link.WaitReadable(kFrameHeaderSize, deadline_ns); io != Link::Io::kOk) {
      absl::Status s = IoError(io, /*mid_frame=*/false);
      if (io == Link::Io::kCorrupt) sticky_ = s;
      return s;
    }
    char bytes[kFrameHeaderSize];
    in.Read(bytes, kFrameHeaderSize);
    if (!FrameHeader::ParseValid(bytes, max_payload_, &header_)) {
      sticky_ = FrameHeader::Parse(absl::string_view(bytes, kFrameHeaderSize), max_payload_)
                    .status();
      return sticky_;
    }
    have_header_ = true;
    payload_got_ = 0;
    // Zero copy: the whole payload is already published and does not wrap.
    const uint64_t len = header_.payload_length;
    if (in.Available(len) >= len) {
      if (const char* p = in.Contiguous(len)) {
        in.Skip(len);
        have_header_ = false;
        return Frame{header_, absl::string_view(p, len)};
      }
    }
    if (len >= stream_from) {
      // The caller parses it from the ring as it arrives (ParseStreamedPayload).
      have_header_ = false;
      stream_left_ = len;
      stream_ready_ = true;
      if (stream_ == nullptr) stream_ = std::make_unique<RingInputStream>(link, &stream_left_);
      stream_->Reset();
      Frame f;
      f.header = header_;
      f.streamed = true;
      return f;
    }
  }

  // Copy path: a payload that wraps, has not fully arrived, or is larger than the ring.
  const uint64_t len = header_.payload_length;
  char* buf = Buffer(len);
  while (payload_got_ < len) {
    uint64_t avail = in.Available(1);
    if (avail == 0) {
      if (Link::Io io = link.WaitReadable(1, deadline_ns); io != Link::Io::kOk) {
        absl::Status s = IoError(io, /*mid_frame=*/have_header_);
        if (io == Link::Io::kCorrupt) sticky_ = s;
        return s;  // a partly received payload stays in buffer_ for the next call
      }
      continue;
    }
    const uint64_t n = std::min({avail, len - payload_got_, kCopyPiece});
    in.Read(buf + payload_got_, n);
    payload_got_ += n;
    link.Release();
  }
  have_header_ = false;
  return Frame{header_, absl::string_view(buf, len)};
}

}  // namespace ferry::shm
