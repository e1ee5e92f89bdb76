// A peer in another process for shm_kill_test and shm_load_test, so the test can kill it
// with SIGKILL at a random moment. Prints one line when it is ready, then works until
// killed (or, for the servers, until its stdin reaches end of file).
//
//   --mode=frame_server --address=A   echoes every frame on every connection;
//                                     prints "listening on <address>"
//   --mode=frame_client --address=A   sends frames of random size (up to --max_size) and
//                                     checks their echoes, forever; prints "connected"
//   --mode=rpc_sleep --address=A --tag=T
//                                     calls Conformance.Sleep(20 s, tag T) and waits;
//                                     prints "calling"
//   --mode=rpc_echo --address=A       calls Conformance.Echo with random payloads (up to
//                                     --max_size) forever; prints "calling"
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "runtime/channel.h"
#include "runtime/frame.h"
#include "tests/conformance/conformance_service.h"
#include "transports/default_transports.h"
#include "transports/shm/shm_transport.h"

ABSL_FLAG(std::string, mode, "", "frame_server, frame_client, rpc_sleep or rpc_echo");
ABSL_FLAG(std::string, address, "", "shm address");
ABSL_FLAG(std::string, tag, "", "rpc_sleep: the Sleep call's tag");
ABSL_FLAG(int, max_size, 1 << 20, "largest payload, bytes");

namespace ferry {
namespace {

void Ready(const char* line) {
  std::printf("%s\n", line);
  std::fflush(stdout);
}

int FrameServer() {
  ShmTransport shm;
  auto listener = shm.Listen(*Address::Parse(absl::GetFlag(FLAGS_address)), {});
  if (!listener.ok()) return 2;
  std::thread acceptor([&] {
    for (;;) {
      auto conn = (*listener)->Accept();
      if (!conn.ok()) return;
      std::thread([c = std::shared_ptr<Connection>(*std::move(conn))] {
        for (;;) {
          absl::StatusOr<Frame> f = c->Receive(absl::InfiniteFuture());
          if (!f.ok()) return;
          const OutFrame out{f->header, f->payload};
          if (!c->Send({&out, 1}, absl::InfiniteFuture()).ok()) return;
        }
      }).detach();
    }
  });
  Ready(("listening on " + (*listener)->address()).c_str());
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  (*listener)->Close();
  acceptor.join();
  return 0;
}

int FrameClient() {
  ShmTransport shm;
  auto conn = shm.Connect(*Address::Parse(absl::GetFlag(FLAGS_address)), {},
                          absl::Now() + absl::Seconds(10));
  if (!conn.ok()) return 2;
  Ready("connected");
  std::mt19937 rng(::getpid());
  for (uint32_t id = 1;; ++id) {
    const std::string payload(rng() % (absl::GetFlag(FLAGS_max_size) + 1), static_cast<char>(id));
    const OutFrame f = MakeFrame(FrameType::kMessage, 0, id, payload);
    if (!(*conn)->Send({&f, 1}, absl::InfiniteFuture()).ok()) return 3;
    absl::StatusOr<Frame> back = (*conn)->Receive(absl::InfiniteFuture());
    if (!back.ok() || back->payload != payload) return 4;
  }
}

int RpcSleep() {
  auto channel = Channel::Create(absl::GetFlag(FLAGS_address), DefaultTransports());
  if (!channel.ok()) return 2;
  conformance::Conformance::Stub stub(*channel);
  ClientContext ctx;
  ctx.set_timeout(absl::Seconds(30));
  conformance::SleepRequest req;
  req.set_ms(20000);
  req.set_tag(absl::GetFlag(FLAGS_tag));
  Ready("calling");
  return stub.Sleep(ctx, req).ok() ? 0 : 3;
}

int RpcEcho() {
  auto channel = Channel::Create(absl::GetFlag(FLAGS_address), DefaultTransports());
  if (!channel.ok()) return 2;
  conformance::Conformance::Stub stub(*channel);
  Ready("calling");
  std::mt19937 rng(::getpid());
  for (;;) {
    ClientContext ctx;
    ctx.set_timeout(absl::Seconds(30));
    conformance::EchoRequest req;
    req.set_payload(std::string(rng() % (absl::GetFlag(FLAGS_max_size) + 1), 'e'));
    if (!stub.Echo(ctx, req).ok()) return 3;
  }
}

}  // namespace
}  // namespace ferry

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "frame_server") return ferry::FrameServer();
  if (mode == "frame_client") return ferry::FrameClient();
  if (mode == "rpc_sleep") return ferry::RpcSleep();
  if (mode == "rpc_echo") return ferry::RpcEcho();
  std::fprintf(stderr, "unknown --mode=%s\n", mode.c_str());
  return 1;
}
