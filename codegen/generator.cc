#include "codegen/generator.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "codegen/names.h"
#include "google/protobuf/io/printer.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace ferry {
namespace codegen {
namespace {

using ::google::protobuf::FileDescriptor;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;
using ::google::protobuf::SourceLocation;
using ::google::protobuf::compiler::GeneratorContext;
using ::google::protobuf::io::Printer;

using Vars = std::map<std::string, std::string>;

// Every type in generated code is written fully qualified from the global namespace
// ("::a::b::Req", "::std::string"): a method called Req, or a package containing a
// namespace called std or absl, would otherwise change what an unqualified name means.

std::string StreamingKind(const MethodDescriptor* method) {
  if (method->client_streaming() && method->server_streaming()) return "bidi-streaming";
  if (method->client_streaming()) return "client-streaming";
  return "server-streaming";
}

// The runtime has no streaming API yet, so a streaming method cannot be served or called
// through generated code. Skipping it would leave a service that silently lacks methods,
// so every such method is reported and nothing is generated.
bool CheckSupported(const FileDescriptor* file, std::string* error) {
  std::vector<std::string> problems;
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      if (!method->client_streaming() && !method->server_streaming()) continue;
      problems.push_back(absl::StrCat(
          file->name(), ": service ", service->full_name(), " method ", method->name(),
          ": streaming methods are not supported yet by protoc-gen-ferry (wire format "
          "supports them); this method is ",
          StreamingKind(method)));
    }
  }
  // Services that end up with the same C++ class would be a compile error later; say so
  // now, where the names are known. It takes contrived names: services Foo_Bar and
  // Foo_Bar_ next to messages Foo.Bar and Foo.Bar_ (C++ Foo_Bar, Foo_Bar_) both become
  // Foo_Bar__.
  std::set<std::string> classes;
  for (int s = 0; s < file->service_count(); ++s) {
    if (!classes.insert(ServiceClassName(file->service(s))).second) {
      problems.push_back(absl::StrCat(file->name(), ": service ", file->service(s)->full_name(),
                                      ": its C++ class name ", ServiceClassName(file->service(s)),
                                      " is taken by another service; rename one of them"));
    }
  }
  if (problems.empty()) return true;
  *error = absl::StrJoin(problems, "\n");
  return false;
}

// Copies a descriptor's leading comment from the .proto, so users read the same contract
// in the generated header. Lines go in as variable values, which the printer does not
// scan for its '$' delimiter.
template <typename DescriptorT>
void PrintLeadingComments(Printer& printer, const DescriptorT* descriptor) {
  SourceLocation location;
  if (!descriptor->GetSourceLocation(&location)) return;
  absl::string_view comment = location.leading_comments;
  absl::ConsumeSuffix(&comment, "\n");
  if (comment.empty()) return;
  for (absl::string_view line : absl::StrSplit(comment, '\n')) {
    // A trailing backslash would splice the next generated line into the comment.
    line = absl::StripTrailingAsciiWhitespace(line);
    while (absl::ConsumeSuffix(&line, "\\")) line = absl::StripTrailingAsciiWhitespace(line);
    printer.Print("//$line$\n", "line", std::string(line));
  }
}

// What is printed about one service, worked out once (the names in names.h are not
// cheap: each looks through the file's imports).
struct ServiceInfo {
  const ServiceDescriptor* descriptor;
  Vars vars;                  // service_class, qualified_service, service_full_name
  std::vector<Vars> methods;  // the service's vars plus index, method_name, call, async,
                              // path, request, response; indexed like descriptor->method(i)
};

ServiceInfo DescribeService(const ServiceDescriptor* service) {
  ServiceInfo info;
  info.descriptor = service;
  info.vars = Vars{
      {"service_class", ServiceClassName(service)},
      {"qualified_service", QualifiedServiceClassName(service)},
      {"service_full_name", service->full_name()},
  };
  const std::vector<MethodNames> names = MethodCppNames(service);
  for (int m = 0; m < service->method_count(); ++m) {
    const MethodDescriptor* method = service->method(m);
    Vars vars = info.vars;
    vars["index"] = absl::StrCat(m);
    vars["method_name"] = method->name();
    vars["call"] = names[m].call;
    vars["async"] = names[m].async;
    vars["path"] = MethodPath(method);
    vars["request"] = MessageClassName(method->input_type());
    vars["response"] = MessageClassName(method->output_type());
    info.methods.push_back(std::move(vars));
  }
  return info;
}

void OpenNamespaces(Printer& printer, const FileDescriptor* file) {
  for (const std::string& ns : PackageNamespaces(file)) {
    printer.Print("namespace $ns$ {\n", "ns", ns);
  }
  if (!PackageNamespaces(file).empty()) printer.Print("\n");
}

void CloseNamespaces(Printer& printer, const FileDescriptor* file) {
  std::vector<std::string> namespaces = PackageNamespaces(file);
  for (auto it = namespaces.rbegin(); it != namespaces.rend(); ++it) {
    printer.Print("}  // namespace $ns$\n", "ns", *it);
  }
}

// ---- foo.ferry.h ----

// The .pb.h of every file defining a request or reply type, besides the file's own:
// include what you use, though foo.pb.h already includes its imports.
std::set<std::string> MessageHeaders(const FileDescriptor* file) {
  std::set<std::string> headers;
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    for (int m = 0; m < service->method_count(); ++m) {
      for (const FileDescriptor* dep :
           {service->method(m)->input_type()->file(), service->method(m)->output_type()->file()}) {
        if (dep != file) headers.insert(FileStem(dep) + ".pb.h");
      }
    }
  }
  return headers;
}

void PrintHeaderPrologue(Printer& printer, const FileDescriptor* file) {
  const std::string stem = FileStem(file);
  printer.Print(
      "// Generated by protoc-gen-ferry from $proto$. DO NOT EDIT.\n"
      "#ifndef $guard$\n"
      "#define $guard$\n"
      "\n",
      "proto", file->name(), "guard", HeaderGuard(stem + ".ferry.h"));
  if (file->service_count() > 0) {
    printer.Print(
        "#include <memory>\n"
        "#include <string>\n"
        "\n"
        "#include \"absl/functional/any_invocable.h\"\n"
        "#include \"absl/status/status.h\"\n"
        "#include \"absl/status/statusor.h\"\n"
        "#include \"absl/strings/string_view.h\"\n"
        "#include \"runtime/channel.h\"\n"
        "#include \"runtime/context.h\"\n"
        "#include \"runtime/service.h\"\n");
  }
  printer.Print("#include \"$header$\"\n", "header", stem + ".pb.h");
  for (const std::string& header : MessageHeaders(file)) {
    printer.Print("#include \"$header$\"\n", "header", header);
  }
  printer.Print("\n");
}

void PrintStubDeclaration(Printer& printer, const ServiceInfo& service) {
  printer.Print(
      "// The client: each method M has a blocking call M, returning the reply or the error;\n"
      "// a blocking M(ctx, request, &reply) that fills a caller-owned reply (reused across\n"
      "// calls it saves the reply's allocations, like gRPC's Status M(ctx, req, resp*); on\n"
      "// error its contents are unspecified); and an async call MAsync, which runs `done`\n"
      "// exactly once with the reply or the error, on the thread that completes the call;\n"
      "// `done` must not block. `ctx` must outlive the call (for MAsync, until `done` has\n"
      "// run); `request` only until the call returns. Errors are the server's status or the\n"
      "// channel's (see runtime/channel.h). Thread-safe; cheap to copy.\n"
      "class Stub {\n"
      " public:\n"
      "  explicit Stub(::std::shared_ptr<::ferry::Channel> channel);\n");
  printer.Indent();
  for (int m = 0; m < service.descriptor->method_count(); ++m) {
    printer.Print("\n");
    PrintLeadingComments(printer, service.descriptor->method(m));
    printer.Print(service.methods[m],
                  "::absl::StatusOr<$response$> $call$(::ferry::ClientContext& ctx,\n"
                  "    const $request$& request);\n"
                  "::absl::Status $call$(::ferry::ClientContext& ctx, const $request$& request,\n"
                  "    $response$* response);\n"
                  "void $async$(::ferry::ClientContext& ctx, const $request$& request,\n"
                  "    ::absl::AnyInvocable<void(::absl::StatusOr<$response$>) &&> done);\n");
  }
  printer.Outdent();
  printer.Print(
      "\n"
      " private:\n"
      "  ::std::shared_ptr<::ferry::Channel> channel_;\n"
      "};\n");
}

void PrintServiceDeclaration(Printer& printer, const ServiceInfo& service) {
  printer.Print(
      "// The server side: derive, override the handlers and register with a\n"
      "// ferry::ServerBuilder. Handlers run concurrently and must be thread-safe; a handler\n"
      "// that is not overridden returns UNIMPLEMENTED.\n"
      "class Service : public ::ferry::Service {\n"
      " public:\n");
  printer.Indent();
  for (int m = 0; m < service.descriptor->method_count(); ++m) {
    PrintLeadingComments(printer, service.descriptor->method(m));
    printer.Print(service.methods[m],
                  "virtual ::absl::Status $call$(::ferry::ServerContext& ctx,\n"
                  "    const $request$& request, $response$* response);\n"
                  "\n");
  }
  printer.Print(
      "const ::ferry::ServiceDescriptor& ferry_descriptor() const override;\n"
      "::absl::Status ferry_dispatch(int method_index, ::ferry::ServerContext& ctx,\n"
      "    const ::ferry::DispatchRequest& request, ::ferry::DispatchReply* reply) override;\n");
  printer.Outdent();
  printer.Print("};\n");
}

void PrintServiceClass(Printer& printer, const ServiceInfo& service) {
  PrintLeadingComments(printer, service.descriptor);
  printer.Print(service.vars,
                "class $service_class$ final {\n"
                " public:\n"
                "  static constexpr ::absl::string_view kServiceName = \"$service_full_name$\";\n"
                "\n");
  printer.Indent();
  PrintStubDeclaration(printer, service);
  printer.Print("\n");
  PrintServiceDeclaration(printer, service);
  printer.Outdent();
  printer.Print("};\n");
}

void PrintHeader(Printer& printer, const FileDescriptor* file) {
  PrintHeaderPrologue(printer, file);
  if (file->service_count() > 0) {
    OpenNamespaces(printer, file);
    for (int s = 0; s < file->service_count(); ++s) {
      if (s > 0) printer.Print("\n");
      PrintServiceClass(printer, DescribeService(file->service(s)));
    }
    printer.Print("\n");
    CloseNamespaces(printer, file);
    printer.Print("\n");
  }
  printer.Print("#endif  // $guard$\n", "guard", HeaderGuard(FileStem(file) + ".ferry.h"));
}

// ---- foo.ferry.cc ----

void PrintSourcePrologue(Printer& printer, const FileDescriptor* file) {
  printer.Print(
      "// Generated by protoc-gen-ferry from $proto$. DO NOT EDIT.\n"
      "#include \"$header$\"\n"
      "\n",
      "proto", file->name(), "header", FileStem(file) + ".ferry.h");
  if (file->service_count() == 0) return;
  printer.Print(
      "#include <memory>\n"
      "#include <string>\n"
      "#include <utility>\n"
      "\n"
      "#include \"absl/functional/any_invocable.h\"\n"
      "#include \"absl/status/status.h\"\n"
      "#include \"absl/status/statusor.h\"\n"
      "#include \"absl/strings/string_view.h\"\n"
      "#include \"runtime/channel.h\"\n"
      "#include \"runtime/context.h\"\n"
      "#include \"runtime/service.h\"\n"
      "\n");
}

void PrintStubDefinitions(Printer& printer, const ServiceInfo& service) {
  printer.Print(service.vars,
                "$service_class$::Stub::Stub(::std::shared_ptr<::ferry::Channel> channel)\n"
                "    : channel_(::std::move(channel)) {}\n");
  for (int m = 0; m < service.descriptor->method_count(); ++m) {
    // The async reply is filled in after the call returns, so it lives on the heap, owned
    // by the completion callback, and is moved out into `done`.
    printer.Print(
        service.methods[m],
        "\n"
        "::absl::StatusOr<$response$> $service_class$::Stub::$call$(\n"
        "    ::ferry::ClientContext& ctx, const $request$& request) {\n"
        "  $response$ response;\n"
        "  ::absl::Status status = channel_->Call(ctx, \"$path$\", request, &response);\n"
        "  if (!status.ok()) return status;\n"
        "  return response;\n"
        "}\n"
        "\n"
        "::absl::Status $service_class$::Stub::$call$(::ferry::ClientContext& ctx,\n"
        "    const $request$& request, $response$* response) {\n"
        "  return channel_->Call(ctx, \"$path$\", request, response);\n"
        "}\n"
        "\n"
        "void $service_class$::Stub::$async$(::ferry::ClientContext& ctx,\n"
        "    const $request$& request,\n"
        "    ::absl::AnyInvocable<void(::absl::StatusOr<$response$>) &&> done) {\n"
        "  auto response = ::std::make_unique<$response$>();\n"
        "  $response$* response_ptr = response.get();\n"
        "  channel_->CallAsync(ctx, \"$path$\", request, response_ptr,\n"
        "      [response = ::std::move(response), done = ::std::move(done)](\n"
        "          ::absl::Status status) mutable {\n"
        "        if (status.ok()) {\n"
        "          ::std::move(done)(::std::move(*response));\n"
        "        } else {\n"
        "          ::std::move(done)(::std::move(status));\n"
        "        }\n"
        "      });\n"
        "}\n");
  }
}

void PrintDefaultHandlers(Printer& printer, const ServiceInfo& service) {
  for (int m = 0; m < service.descriptor->method_count(); ++m) {
    printer.Print(
        service.methods[m],
        "\n"
        "::absl::Status $service_class$::Service::$call$(::ferry::ServerContext& /*ctx*/,\n"
        "    const $request$& /*request*/, $response$* /*response*/) {\n"
        "  return ::absl::UnimplementedError(\"method $path$ is not implemented\");\n"
        "}\n");
  }
}

void PrintDescriptor(Printer& printer, const ServiceInfo& service) {
  printer.Print(service.vars,
                "\n"
                "const ::ferry::ServiceDescriptor& $service_class$::Service::ferry_descriptor() "
                "const {\n");
  printer.Indent();
  if (service.descriptor->method_count() == 0) {
    printer.Print(service.vars,
                  "static constexpr ::ferry::ServiceDescriptor kDescriptor = {\n"
                  "    $qualified_service$::kServiceName, {}};\n");
  } else {
    // Streaming methods were rejected in CheckSupported, so every method is unary.
    printer.Print("static constexpr ::ferry::MethodDescriptor kMethods[] = {\n");
      for (int m = 0; m < service.descriptor->method_count(); ++m) {
      printer.Print(service.methods[m],
                    "    {\"$method_name$\", \"$path$\", ::ferry::MethodKind::kUnary},\n");
    }
    printer.Print(service.vars,
                  "};\n"
                  "static constexpr ::ferry::ServiceDescriptor kDescriptor = {\n"
                  "    $qualified_service$::kServiceName, kMethods};\n");
  }
  printer.Print("return kDescriptor;\n");
  printer.Outdent();
  printer.Print("}\n");
}

void PrintDispatch(Printer& printer, const ServiceInfo& service) {
  if (service.descriptor->method_count() == 0) {
    printer.Print(service.vars,
                  "\n"
                  "::absl::Status $service_class$::Service::ferry_dispatch(int method_index,\n"
                  "    ::ferry::ServerContext& /*ctx*/, const ::ferry::DispatchRequest& /*request*/,\n"
                  "    ::ferry::DispatchReply* /*reply*/) {\n"
                  "  return ::ferry::internal::NoSuchMethod(method_index);\n"
                  "}\n");
    return;
  }
  printer.Print(service.vars,
                "\n"
                "::absl::Status $service_class$::Service::ferry_dispatch(int method_index,\n"
                "    ::ferry::ServerContext& ctx, const ::ferry::DispatchRequest& request,\n"
                "    ::ferry::DispatchReply* reply) {\n"
                "  switch (method_index) {\n");
  for (int m = 0; m < service.descriptor->method_count(); ++m) {
    printer.Print(service.methods[m],
                  "    case $index$:\n"
                  "      return ::ferry::internal::RunUnary(this, &Service::$call$, ctx, request,\n"
                  "                                         reply);\n");
  }
  printer.Print(
      "    default:\n"
      "      return ::ferry::internal::NoSuchMethod(method_index);\n"
      "  }\n"
      "}\n");
}

void PrintSource(Printer& printer, const FileDescriptor* file) {
  PrintSourcePrologue(printer, file);
  if (file->service_count() == 0) return;
  OpenNamespaces(printer, file);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceInfo service = DescribeService(file->service(s));
    printer.Print(service.vars, "// ---- $service_full_name$ ----\n\n");
    PrintStubDefinitions(printer, service);
    PrintDefaultHandlers(printer, service);
    PrintDescriptor(printer, service);
    PrintDispatch(printer, service);
    printer.Print("\n");
  }
  CloseNamespaces(printer, file);
}

}  // namespace

bool FerryGenerator::Generate(const FileDescriptor* file, const std::string& parameter,
                              GeneratorContext* context, std::string* error) const {
  if (!parameter.empty()) {
    *error = absl::StrCat("protoc-gen-ferry takes no options, got \"", parameter, "\"");
    return false;
  }
  if (!CheckSupported(file, error)) return false;
  const std::string stem = FileStem(file);
  {
    std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(
        context->Open(stem + ".ferry.h"));
    Printer printer(out.get(), '$');
    PrintHeader(printer, file);
  }
  {
    std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(
        context->Open(stem + ".ferry.cc"));
    Printer printer(out.get(), '$');
    PrintSource(printer, file);
  }
  return true;
}

}  // namespace codegen
}  // namespace ferry
