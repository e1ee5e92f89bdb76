// Fuzzes a real Server and its generated dispatch (the Conformance service of
// tests/conformance: Echo inline, Sleep on the pool, Fail) with arbitrary frame sequences
// sent over a raw in-process loopback connection, as a hostile client would send them.
//
// Input: byte 0 bit 0 = send a valid HELLO first (most seeds do, so the fuzzer reaches the
// call layer; bit 1 = the HELLO offers unary frames, so replies take their one-frame form),
// then records of
//   type(1) flags(1) call_id(1) length(2, big endian) payload(length, cut at the end)
// Any type byte, flag and call id is sent as is (the loopback receiver parses the header,
// so bad ones take the header-error path). After the records the harness sends a PING and
// reads until its ACK or the end of the connection.
// Properties: the server never crashes or hangs (the PING is answered or the connection
// ends within 10 s); every frame it sends parses; it only ends calls this client started;
// and after every 16th input a well-behaved client on its own connection still gets its
// echo (the server keeps serving).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/stubs/logging.h"
#include "fuzz/check.h"
#include "runtime/channel.h"
#include "runtime/frame.h"
#include "runtime/server.h"
#include "tests/conformance/conformance_service.h"
#include "transports/default_transports.h"
#include "transports/transport.h"

namespace ferry {
namespace {

constexpr char kAddress[] = "inproc:dispatch-fuzz";

struct World {
  std::shared_ptr<const TransportRegistry> registry = DefaultTransports();
  conformance::ConformanceService service;
  std::unique_ptr<Server> server;
  std::shared_ptr<Channel> channel;
  std::unique_ptr<conformance::Conformance::Stub> stub;
};

World& TheWorld() {
  static World* w = [] {
    // Undecodable requests are the point here; protobuf's log line for each is noise.
    google::protobuf::SetLogHandler(nullptr);
    auto* w = new World;
    ServerOptions options;
    options.max_receive_message_size = 1 << 20;
    options.pool_threads = 2;
    auto server = ServerBuilder(w->registry)
                      .AddListeningAddress(kAddress)
                      .RegisterService(&w->service, HandlerThread::kInline)
                      .SetMethodThread("/ferry.conformance.Conformance/Sleep", HandlerThread::kPool)
                      .SetOptions(options)
                      .BuildAndStart();
    FUZZ_CHECK(server.ok()) << server.status();
    w->server = *std::move(server);
    auto channel = Channel::Create(kAddress, w->registry);
    FUZZ_CHECK(channel.ok()) << channel.status();
    w->channel = *channel;
    w->stub = std::make_unique<conformance::Conformance::Stub>(w->channel);
    // At exit (libFuzzer's time limit, or the replay main returning) shut the server down
    // so its connection threads are joined (TSan reports unjoined threads as leaks).
    std::atexit([] { TheWorld().server->Shutdown(absl::Now()); });
    return w;
  }();
  return *w;
}

void CheckStillServing(World& w) {
  ClientContext ctx;
  ctx.set_timeout(absl::Seconds(10));
  conformance::EchoRequest req;
  req.set_payload("still serving");
  absl::StatusOr<conformance::EchoReply> r = w.stub->Echo(ctx, req);
  FUZZ_CHECK(r.ok()) << "a well-behaved client was not served: " << r.status();
  FUZZ_CHECK(r->payload() == "still serving");
}

}  // namespace
}  // namespace ferry

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;
  World& w = TheWorld();
  static uint64_t inputs = 0;
  if (++inputs % 16 == 0) CheckStillServing(w);
  if (size < 1) return 0;

  absl::StatusOr<Address> addr = Address::Parse(kAddress);
  ConnectionLimits limits;
  absl::StatusOr<std::unique_ptr<Connection>> conn = w.registry->Find("inproc")->Connect(
      *addr, limits, absl::Now() + absl::Seconds(10));
  FUZZ_CHECK(conn.ok()) << conn.status();
  Connection& c = **conn;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);

  absl::flat_hash_set<uint32_t> started;
  bool sent_ok = true;
  if (data[0] & 1) {
    std::string hello;
    // Bit 1: offer unary frames, so the server answers a call in one frame when it can.
    EncodeHello(HelloPayload{kDefaultMaxMessageSize, (data[0] & 2) ? kFeatureUnaryFrames : 0u},
                &hello);
    OutFrame f = MakeFrame(FrameType::kHello, 0, 0, hello);
    sent_ok = c.Send({&f, 1}, deadline).ok();
  }
  size_t i = 1;
  while (sent_ok && i + 5 <= size) {
    const uint8_t type = data[i], flags = data[i + 1], id = data[i + 2];
    size_t len = size_t{data[i + 3]} << 8 | data[i + 4];
    i += 5;
    len = std::min(len, size - i);
    const absl::string_view payload(reinterpret_cast<const char*>(data) + i, len);
    i += len;
    OutFrame f{FrameHeader{static_cast<FrameType>(type), flags, id,
                           static_cast<uint32_t>(len)},
               payload};
    if (static_cast<FrameType>(type) == FrameType::kCallStart) started.insert(id);
    // A send fails once the server has dropped the connection; the rest is moot.
    sent_ok = c.Send({&f, 1}, deadline).ok();
  }
  const std::string ping = "fuzzping";
  OutFrame p = MakeFrame(FrameType::kPing, 0, 0, ping);
  if (sent_ok) sent_ok = c.Send({&p, 1}, deadline).ok();

  for (;;) {
    absl::StatusOr<Frame> f = c.Receive(deadline);
    if (!f.ok()) {
      FUZZ_CHECK(f.status().code() == absl::StatusCode::kUnavailable)
          << "the server neither answered the PING nor closed the connection: " << f.status();
      break;
    }
    const FrameHeader& h = f->header;
    if (!IsConnectionFrame(h.type)) {
      FUZZ_CHECK(started.contains(h.call_id))
          << FrameTypeName(h.type) << " for call " << h.call_id << " that was never started";
    }
    if (h.type == FrameType::kPing && (h.flags & kFlagAck) && f->payload == ping) break;
  }
  c.Close();
  return 0;
}
