// Serializing a message into a reused buffer, for the per-call path.
//
// SerializeToString() clears the buffer and appends, so every call computes the size
// twice and zero-fills the buffer back up to the message size (a memset of the whole
// payload: 1 MiB per 1 MiB call). SerializeReusing computes the size once, resizes the
// buffer without clearing it (steady sizes need no fill) and writes with the cached size.
#ifndef FERRY_RUNTIME_SERIALIZE_H_
#define FERRY_RUNTIME_SERIALIZE_H_

#include <cstdint>
#include <string>

#include "google/protobuf/message_lite.h"

namespace ferry::internal {

// Computes `message`'s size (cached in the message) without serializing.
inline size_t MessageSize(const google::protobuf::MessageLite& message) {
  return message.ByteSizeLong();
}

// Writes `message` into *out, which ends up exactly `size` bytes long. `size` must be
// MessageSize(message), computed just before with no change to the message since. False,
// like SerializeToString(), for a proto2 message missing required fields.
inline bool SerializeWithSize(const google::protobuf::MessageLite& message, size_t size,
                              std::string* out) {
  if (!message.IsInitialized()) return false;
  out->resize(size);
  if (size > 0) {
    message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(&(*out)[0]));
  }
  return true;
}

}  // namespace ferry::internal

#endif  // FERRY_RUNTIME_SERIALIZE_H_
