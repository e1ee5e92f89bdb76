// kv_client: calls the KeyValue service from the command line.
//
//   kv_client --address=unix:/tmp/kv.sock put greeting hello
//   kv_client --address=tcp://127.0.0.1:5000 --timeout=200ms get greeting
//   kv_client --address=unix:/tmp/kv.sock list gr
//   kv_client --address=unix:/tmp/kv.sock demo
//
// Output: `get` prints the value as stored; `list` prints one "key<TAB>value" line per
// entry with both C-escaped, so every entry is one line. On failure it prints
// "error: <CODE>: <message>" to stderr and exits with the canonical code's number
// (NOT_FOUND 5, INVALID_ARGUMENT 3, DEADLINE_EXCEEDED 4, UNAVAILABLE 14, ...), so scripts
// can tell failures apart; bad usage exits 64.
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/kv/kv.ferry.h"
#include "examples/kv/kv.pb.h"
#include "google/protobuf/empty.pb.h"
#include "runtime/channel.h"
#include "runtime/context.h"
#include "transports/default_transports.h"

ABSL_FLAG(std::string, address, "", "Server address, e.g. unix:/tmp/kv.sock or tcp://127.0.0.1:5000");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(1), "Deadline of each call");

namespace kv = ferry::examples::kv;

namespace {

constexpr int kUsageExit = 64;  // EX_USAGE from <sysexits.h>

constexpr char kUsage[] =
    "Calls the Ferry key-value example.\n"
    "  kv_client --address=ADDR [--timeout=1s] COMMAND [ARGS]\n"
    "Commands:\n"
    "  put KEY VALUE    store VALUE under KEY\n"
    "  get KEY          print the value of KEY\n"
    "  delete KEY       remove KEY\n"
    "  list [PREFIX]    print every entry whose key starts with PREFIX\n"
    "  demo             a few calls of each kind, with their round-trip times";

int Fail(const absl::Status& status) {
  std::cerr << "error: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << std::endl;
  // Exit codes are 8 bits; every canonical code (1..16) fits.
  return static_cast<int>(status.code());
}

int Usage(absl::string_view problem) {
  std::cerr << "kv_client: " << problem << "\n" << kUsage << std::endl;
  return kUsageExit;
}

// One call's context. A fresh one per call, because the deadline is absolute: it is
// computed from --timeout when the call is about to be made, not when the program starts.
std::unique_ptr<ferry::ClientContext> NewContext() {
  auto ctx = std::make_unique<ferry::ClientContext>();
  ctx->set_timeout(absl::GetFlag(FLAGS_timeout));
  return ctx;
}

int Put(kv::KeyValue::Stub& stub, const std::string& key, const std::string& value) {
  kv::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  auto ctx = NewContext();
  absl::StatusOr<kv::PutReply> reply = stub.Put(*ctx, request);
  if (!reply.ok()) return Fail(reply.status());
  std::cout << (reply->replaced() ? "replaced" : "created") << std::endl;
  return 0;
}

int Get(kv::KeyValue::Stub& stub, const std::string& key) {
  kv::GetRequest request;
  request.set_key(key);
  auto ctx = NewContext();
  absl::StatusOr<kv::GetReply> reply = stub.Get(*ctx, request);
  if (!reply.ok()) return Fail(reply.status());
  std::cout << reply->value() << std::endl;
  return 0;
}

int Delete(kv::KeyValue::Stub& stub, const std::string& key) {
  kv::DeleteRequest request;
  request.set_key(key);
  auto ctx = NewContext();
  absl::StatusOr<google::protobuf::Empty> reply = stub.Delete(*ctx, request);
  if (!reply.ok()) return Fail(reply.status());
  std::cout << "deleted" << std::endl;
  return 0;
}

// Follows start_after until the server says the listing is complete, so `list` prints
// every match however many pages that takes.
int List(kv::KeyValue::Stub& stub, const std::string& prefix) {
  kv::ListRequest request;
  request.set_prefix(prefix);
  while (true) {
    auto ctx = NewContext();
    absl::StatusOr<kv::ListReply> reply = stub.List(*ctx, request);
    if (!reply.ok()) return Fail(reply.status());
    for (const kv::Entry& entry : reply->entries()) {
      std::cout << absl::CHexEscape(entry.key()) << "\t" << absl::CHexEscape(entry.value())
                << "\n";
    }
    if (!reply->truncated() || reply->entries().empty()) break;
    request.set_start_after(reply->entries().rbegin()->key());
  }
  std::cout.flush();
  return 0;
}

// Runs one blocking call, prints "<what> -> <result> (<round trip>)" and returns the
// status so the demo can check it got what it expected.
template <typename Reply, typename Call, typename Describe>
absl::Status Timed(absl::string_view what, Call call, Describe describe) {
  auto ctx = NewContext();
  const absl::Time start = absl::Now();
  absl::StatusOr<Reply> reply = call(*ctx);
  const absl::Duration rtt = absl::Now() - start;
  std::cout << what << " -> "
            << (reply.ok() ? describe(*reply)
                           : absl::StrCat(absl::StatusCodeToString(reply.status().code()), ": ",
                                          reply.status().message()))
            << " (" << absl::FormatDuration(rtt) << ")" << std::endl;
  return reply.status();
}

absl::Status Expect(absl::string_view what, const absl::Status& status, absl::StatusCode want) {
  if (status.code() == want) return absl::OkStatus();
  return absl::Status(status.code() == absl::StatusCode::kOk ? absl::StatusCode::kInternal
                                                             : status.code(),
                      absl::StrCat("demo: ", what, " returned ", status.ToString(),
                                   ", expected ", absl::StatusCodeToString(want)));
}

absl::Status RunDemo(kv::KeyValue::Stub& stub) {
  const absl::StatusCode kOk = absl::StatusCode::kOk;
  // The first call also connects, so its round trip includes the connection set-up.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"demo/fruit/apple", "red"}, {"demo/fruit/banana", "yellow"}, {"demo/veg/leek", "green"}}) {
    kv::PutRequest request;
    request.set_key(key);
    request.set_value(value);
    absl::Status status = Timed<kv::PutReply>(
        absl::StrCat("Put(", key, ", ", value, ")"),
        [&](ferry::ClientContext& ctx) { return stub.Put(ctx, request); },
        [](const kv::PutReply& r) { return r.replaced() ? "OK, replaced" : "OK, created"; });
    if (auto e = Expect("Put", status, kOk); !e.ok()) return e;
  }

  // Async calls: all are in flight on the one connection at once; each callback runs on
  // whichever thread completes it, so the counter is what this thread waits on.
  constexpr int kAsyncPuts = 8;
  std::vector<std::unique_ptr<ferry::ClientContext>> contexts;
  std::vector<absl::Status> statuses(kAsyncPuts);
  absl::BlockingCounter pending(kAsyncPuts);
  const absl::Time start = absl::Now();
  for (int i = 0; i < kAsyncPuts; ++i) {
    kv::PutRequest request;
    request.set_key(absl::StrCat("demo/counter/", i));
    request.set_value(absl::StrCat(i * i));
    contexts.push_back(NewContext());
    stub.PutAsync(*contexts.back(), request,
                  [&statuses, &pending, i](absl::StatusOr<kv::PutReply> reply) {
                    statuses[i] = reply.status();
                    pending.DecrementCount();
                  });
  }
  pending.Wait();
  std::cout << kAsyncPuts << " x PutAsync(demo/counter/N, N*N) -> all done ("
            << absl::FormatDuration(absl::Now() - start) << " for all)" << std::endl;
  for (const absl::Status& status : statuses) {
    if (auto e = Expect("PutAsync", status, kOk); !e.ok()) return e;
  }

  auto get = [&](const std::string& key) {
    kv::GetRequest request;
    request.set_key(key);
    return Timed<kv::GetReply>(
        absl::StrCat("Get(", key, ")"),
        [&](ferry::ClientContext& ctx) { return stub.Get(ctx, request); },
        [](const kv::GetReply& r) { return absl::StrCat("OK, \"", absl::CHexEscape(r.value()), "\""); });
  };
  if (auto e = Expect("Get", get("demo/fruit/apple"), kOk); !e.ok()) return e;
  if (auto e = Expect("Get", get("demo/counter/7"), kOk); !e.ok()) return e;
  if (auto e = Expect("Get of a missing key", get("demo/fruit/cherry"),
                      absl::StatusCode::kNotFound);
      !e.ok()) {
    return e;
  }

  kv::ListRequest list;
  list.set_prefix("demo/fruit/");
  absl::Status status = Timed<kv::ListReply>(
      "List(demo/fruit/)", [&](ferry::ClientContext& ctx) { return stub.List(ctx, list); },
      [](const kv::ListReply& r) {
        std::string out = absl::StrCat("OK, ", r.entries_size(), " entries:");
        for (const kv::Entry& entry : r.entries()) absl::StrAppend(&out, " ", entry.key());
        return out;
      });
  if (auto e = Expect("List", status, kOk); !e.ok()) return e;

  // Cleans up, so the demo can run again against the same server.
  std::vector<std::string> keys = {"demo/fruit/apple", "demo/fruit/banana", "demo/veg/leek"};
  for (int i = 0; i < kAsyncPuts; ++i) keys.push_back(absl::StrCat("demo/counter/", i));
  for (const std::string& key : keys) {
    kv::DeleteRequest request;
    request.set_key(key);
    status = Timed<google::protobuf::Empty>(
        absl::StrCat("Delete(", key, ")"),
        [&](ferry::ClientContext& ctx) { return stub.Delete(ctx, request); },
        [](const google::protobuf::Empty&) { return "OK"; });
    if (auto e = Expect("Delete", status, kOk); !e.ok()) return e;
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  const std::string address = absl::GetFlag(FLAGS_address);
  if (address.empty()) return Usage("--address is required");
  if (args.empty()) return Usage("no command given");
  const std::string& command = args[0];
  const size_t arity = args.size() - 1;

  // Creating a channel does not connect; the first call does (and fails with UNAVAILABLE
  // if nobody is listening).
  absl::StatusOr<std::shared_ptr<ferry::Channel>> channel =
      ferry::Channel::Create(address, ferry::DefaultTransports());
  if (!channel.ok()) return Fail(channel.status());
  kv::KeyValue::Stub stub(*channel);

  if (command == "put" && arity == 2) return Put(stub, args[1], args[2]);
  if (command == "get" && arity == 1) return Get(stub, args[1]);
  if (command == "delete" && arity == 1) return Delete(stub, args[1]);
  if (command == "list" && arity <= 1) return List(stub, arity == 1 ? args[1] : "");
  if (command == "demo" && arity == 0) {
    absl::Status status = RunDemo(stub);
    return status.ok() ? 0 : Fail(status);
  }
  if (command == "put" || command == "get" || command == "delete" || command == "list" ||
      command == "demo") {
    return Usage(absl::StrCat("wrong number of arguments for '", command, "'"));
  }
  return Usage(absl::StrCat("unknown command '", command, "'"));
}
