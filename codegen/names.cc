#include "codegen/names.h"

#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/compiler/cpp/names.h"

namespace ferry {
namespace codegen {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;

// Members of Foo, Foo::Stub and Foo::Service (and of ferry::Service) that a method of the
// same name would hide or collide with.
constexpr absl::string_view kReservedMemberNames[] = {
    "Stub", "Service", "channel_", "ferry_descriptor", "ferry_dispatch", "kServiceName",
};

constexpr absl::string_view kAsyncSuffix = "Async";

void AddTypeNames(const Descriptor* message, std::set<std::string>* names) {
  names->insert(google::protobuf::compiler::cpp::ClassName(message));
  for (int i = 0; i < message->nested_type_count(); ++i) {
    AddTypeNames(message->nested_type(i), names);
  }
  for (int i = 0; i < message->enum_type_count(); ++i) {
    names->insert(google::protobuf::compiler::cpp::ClassName(message->enum_type(i)));
  }
}

// Every name `service`'s class must avoid in its namespace. Walks the imports because a
// package may span several files.
void AddPackageNames(const FileDescriptor* file, const ServiceDescriptor* service,
                     std::set<const FileDescriptor*>* seen, std::set<std::string>* names) {
  if (!seen->insert(file).second) return;
  if (file->package() == service->file()->package()) {
    for (int i = 0; i < file->message_type_count(); ++i) {
      AddTypeNames(file->message_type(i), names);
    }
    for (int i = 0; i < file->enum_type_count(); ++i) {
      names->insert(google::protobuf::compiler::cpp::ClassName(file->enum_type(i)));
    }
    for (int i = 0; i < file->service_count(); ++i) {
      if (file->service(i) != service) names->insert(file->service(i)->name());
    }
  }
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddPackageNames(file->dependency(i), service, seen, names);
  }
}

bool IsReservedMemberName(absl::string_view name, absl::string_view service_class) {
  if (name == service_class || IsCppKeyword(name)) return true;
  for (absl::string_view reserved : kReservedMemberNames) {
    if (name == reserved) return true;
  }
  return false;
}

}  // namespace

bool IsCppKeyword(absl::string_view name) {
  // C++20, so that code generated today keeps compiling under newer standards.
  static const auto* const kKeywords = new absl::flat_hash_set<absl::string_view>({
      "alignas",      "alignof",     "and",          "and_eq",        "asm",
      "auto",         "bitand",      "bitor",        "bool",          "break",
      "case",         "catch",       "char",         "char8_t",       "char16_t",
      "char32_t",     "class",       "compl",        "concept",       "const",
      "consteval",    "constexpr",   "constinit",    "const_cast",    "continue",
      "co_await",     "co_return",   "co_yield",     "decltype",      "default",
      "delete",       "do",          "double",       "dynamic_cast",  "else",
      "enum",         "explicit",    "export",       "extern",        "false",
      "float",        "for",         "friend",       "goto",          "if",
      "inline",       "int",         "long",         "mutable",       "namespace",
      "new",          "noexcept",    "not",          "not_eq",        "nullptr",
      "operator",     "or",          "or_eq",        "private",       "protected",
      "public",       "register",    "reinterpret_cast", "requires",  "return",
      "short",        "signed",      "sizeof",       "static",        "static_assert",
      "static_cast",  "struct",      "switch",       "template",      "this",
      "thread_local", "throw",       "true",         "try",           "typedef",
      "typeid",       "typename",    "union",        "unsigned",      "using",
      "virtual",      "void",        "volatile",     "wchar_t",       "while",
      "xor",          "xor_eq",
  });
  return kKeywords->contains(name);
}

std::vector<std::string> PackageNamespaces(const FileDescriptor* file) {
  if (file->package().empty()) return {};
  return absl::StrSplit(file->package(), '.');
}

std::string ServiceClassName(const ServiceDescriptor* service) {
  std::set<std::string> taken;
  std::set<const FileDescriptor*> seen;
  AddPackageNames(service->file(), service, &seen, &taken);
  taken.insert("Stub");
  taken.insert("Service");
  std::string name = service->name();
  while (IsCppKeyword(name) || taken.count(name) > 0) name += '_';
  return name;
}

std::string QualifiedServiceClassName(const ServiceDescriptor* service) {
  std::string qualified;
  for (const std::string& ns : PackageNamespaces(service->file())) {
    absl::StrAppend(&qualified, "::", ns);
  }
  absl::StrAppend(&qualified, "::", ServiceClassName(service));
  return qualified;
}

std::vector<MethodNames> MethodCppNames(const ServiceDescriptor* service) {
  const std::string service_class = ServiceClassName(service);
  const std::string async(kAsyncSuffix);
  auto usable = [&](const std::string& name) {
    return !IsReservedMemberName(name, service_class) &&
           !IsReservedMemberName(name + async, service_class);
  };

  // A method keeps its proto name whenever it can: names that need no change are given
  // out first, and among them those not ending in "Async" first, so that of Get and
  // GetAsync it is GetAsync that yields, whatever the declaration order.
  std::vector<int> order;
  for (int group = 0; group < 3; ++group) {
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string& name = service->method(i)->name();
      const int name_group = !usable(name) ? 2 : absl::EndsWith(name, kAsyncSuffix) ? 1 : 0;
      if (name_group == group) order.push_back(i);
    }
  }

  std::vector<MethodNames> names(service->method_count());
  absl::flat_hash_set<std::string> given_out;
  for (int i : order) {
    std::string name = service->method(i)->name();
    while (!usable(name) || given_out.contains(name) || given_out.contains(name + async)) {
      name += '_';
    }
    names[i] = MethodNames{name, name + async};
    given_out.insert(names[i].call);
    given_out.insert(names[i].async);
  }
  return names;
}

std::string MessageClassName(const Descriptor* message) {
  return google::protobuf::compiler::cpp::QualifiedClassName(message);
}

std::string MethodPath(const MethodDescriptor* method) {
  return absl::StrCat("/", method->service()->full_name(), "/", method->name());
}

std::string FileStem(const FileDescriptor* file) {
  // protobuf's own rule, so foo.ferry.h sits next to the foo.pb.h it includes.
  return google::protobuf::compiler::cpp::StripProto(file->name());
}

std::string HeaderGuard(absl::string_view generated_file_name) {
  std::string guard = "FERRY_GENERATED_";
  for (char c : generated_file_name) {
    guard += absl::ascii_isalnum(c) ? absl::ascii_toupper(c) : '_';
  }
  guard += '_';
  return guard;
}

}  // namespace codegen
}  // namespace ferry
