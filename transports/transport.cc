#include "transports/transport.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ferry {

absl::StatusOr<Address> Address::Parse(absl::string_view address) {
  const size_t colon = address.find(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", address, "\" has no scheme (expected scheme:target)"));
  }
  Address a;
  a.scheme = std::string(address.substr(0, colon));
  for (char c : a.scheme) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-')) {
      return absl::InvalidArgumentError(absl::StrCat("address \"", address, "\" has a bad scheme"));
    }
  }
  absl::string_view rest = address.substr(colon + 1);
  if (absl::StartsWith(rest, "//")) {
    rest.remove_prefix(2);
    a.slashes = true;
  }
  const size_t q = rest.find('?');
  absl::string_view target = rest.substr(0, q);
  if (target.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", address, "\" has no target"));
  }
  a.target = std::string(target);
  if (q != absl::string_view::npos) {
    for (absl::string_view kv : absl::StrSplit(rest.substr(q + 1), '&', absl::SkipEmpty())) {
      const size_t eq = kv.find('=');
      if (eq == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("address \"", address, "\" has an option with no name"));
      }
      if (eq == absl::string_view::npos) {
        a.options.emplace_back(std::string(kv), "");
      } else {
        a.options.emplace_back(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
      }
    }
  }
  return a;
}

const std::string* Address::Option(absl::string_view key) const {
  for (const auto& [k, v] : options) {
    if (k == key) return &v;
  }
  return nullptr;
}

absl::Status Address::CheckOptions(absl::Span<const absl::string_view> known) const {
  for (const auto& [k, v] : options) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown option \"", k, "\" for ", scheme, " addresses (known: ",
          known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

std::string Address::ToString() const {
  std::string s = absl::StrCat(scheme, slashes ? "://" : ":", target);
  for (size_t i = 0; i < options.size(); ++i) {
    absl::StrAppend(&s, i == 0 ? "?" : "&", options[i].first);
    if (!options[i].second.empty()) absl::StrAppend(&s, "=", options[i].second);
  }
  return s;
}

absl::Status TransportRegistry::Register(std::unique_ptr<Transport> transport) {
  std::string scheme(transport->scheme());
  auto [it, inserted] = transports_.try_emplace(scheme, std::move(transport));
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("a transport for \"", scheme,
                                                 ":\" is already registered"));
  }
  return absl::OkStatus();
}

Transport* TransportRegistry::Find(absl::string_view scheme) const {
  auto it = transports_.find(scheme);
  return it == transports_.end() ? nullptr : it->second.get();
}

std::vector<std::string> TransportRegistry::schemes() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : transports_) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status MessageFrameError(const FrameHeader& header, size_t prefix_size,
                               size_t message_size) {
  if (prefix_size + message_size > std::numeric_limits<uint32_t>::max() ||
      message_size > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "frame payload of ", prefix_size + message_size, " bytes cannot be framed"));
  }
  if (header.payload_length != prefix_size + message_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame header announces ", header.payload_length, " payload bytes but ",
                     prefix_size, " + ", message_size, " were given"));
  }
  return absl::OkStatus();
}

absl::Status SerializedSizeMismatch(const google::protobuf::MessageLite& message,
                                    size_t message_size) {
  return absl::InternalError(absl::StrCat(message.GetTypeName(), " did not serialize to ",
                                          message_size, " bytes (changed while sent?)"));
}

absl::Status Connection::SendMessage(const FrameHeader& header, absl::string_view prefix,
                                     const google::protobuf::MessageLite& message,
                                     size_t message_size, absl::Time deadline) {
  if (absl::Status s = CheckMessageFrame(header, prefix.size(), message_size); !s.ok()) {
    return s;
  }
  // Steady sizes reuse the buffer as it is: resize() fills only what it grows by.
  thread_local std::string buffer;
  buffer.resize(prefix.size() + message_size);
  if (!prefix.empty()) std::memcpy(&buffer[0], prefix.data(), prefix.size());
  if (message_size > 0) {
    uint8_t* at = reinterpret_cast<uint8_t*>(&buffer[prefix.size()]);
    if (message.SerializeWithCachedSizesToArray(at) != at + message_size) {
      return SerializedSizeMismatch(message, message_size);
    }
  }
  const OutFrame frame{header, buffer};
  return Send({&frame, 1}, deadline);
}

absl::StatusOr<Frame> Connection::ReceiveStreaming(absl::Time deadline, uint64_t) {
  return Receive(deadline);
}

google::protobuf::io::ZeroCopyInputStream* Connection::StreamedPayload() { return nullptr; }

absl::Status Connection::StreamedPayloadStatus() { return absl::OkStatus(); }

absl::Status Connection::ParseStreamedPayload(google::protobuf::MessageLite* message,
                                              bool* parsed) {
  *parsed = false;
  google::protobuf::io::ZeroCopyInputStream* stream = StreamedPayload();
  if (stream == nullptr) {
    return absl::FailedPreconditionError("the last frame received was not streamed");
  }
  const bool ok = message->ParseFromZeroCopyStream(stream);
  if (absl::Status s = StreamedPayloadStatus(); !s.ok()) return s;
  // A valid message ends where the payload does (protobuf reads to the stream's end).
  *parsed = ok;
  return absl::OkStatus();
}

}  // namespace ferry
