#include "bench/raw_shm_mechanism.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "transports/shm/raw_shm.h"

namespace ferry::bench {
namespace {

constexpr uint32_t kEchoTag = 0;
constexpr uint32_t kCpuTag = 1;

class ShmRawEndpoint final : public RawEndpoint {
 public:
  explicit ShmRawEndpoint(std::unique_ptr<shm::RawShmEndpoint> e) : e_(std::move(e)) {}

  absl::Status Send(RawKind kind, absl::string_view payload) override {
    return e_->Send(kind == RawKind::kCpuRequest ? kCpuTag : kEchoTag, payload);
  }

  absl::StatusOr<RawKind> Receive(std::string* payload) override {
    absl::StatusOr<uint32_t> tag = e_->Receive(payload);
    if (!tag.ok()) return tag.status();
    switch (*tag) {
      case kEchoTag:
        return RawKind::kEcho;
      case kCpuTag:
        return RawKind::kCpuRequest;
      default:
        return absl::InvalidArgumentError(absl::StrCat("raw shm message with tag ", *tag));
    }
  }

  void Shutdown() override { e_->Shutdown(); }

 private:
  std::unique_ptr<shm::RawShmEndpoint> e_;
};

class ShmRawListener final : public RawListener {
 public:
  explicit ShmRawListener(std::unique_ptr<shm::RawShmListener> l) : l_(std::move(l)) {}

  absl::StatusOr<std::unique_ptr<RawEndpoint>> Accept() override {
    absl::StatusOr<std::unique_ptr<shm::RawShmEndpoint>> e = l_->Accept();
    if (!e.ok()) return e.status();
    return std::unique_ptr<RawEndpoint>(new ShmRawEndpoint(*std::move(e)));
  }
  void Close() override { l_->Close(); }
  std::string address() const override { return l_->address(); }

 private:
  std::unique_ptr<shm::RawShmListener> l_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RawListener>> ShmRawMechanism::Listen(
    const Address& address) const {
  absl::StatusOr<std::unique_ptr<shm::RawShmListener>> l =
      shm::RawShmListener::Listen(address.ToString());
  if (!l.ok()) return l.status();
  return std::unique_ptr<RawListener>(new ShmRawListener(*std::move(l)));
}

absl::StatusOr<std::unique_ptr<RawEndpoint>> ShmRawMechanism::Connect(
    const Address& address, absl::Time deadline) const {
  absl::StatusOr<std::unique_ptr<shm::RawShmEndpoint>> e =
      shm::RawShmConnect(address.ToString(), deadline);
  if (!e.ok()) return e.status();
  return std::unique_ptr<RawEndpoint>(new ShmRawEndpoint(*std::move(e)));
}

}  // namespace ferry::bench
