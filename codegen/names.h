// C++ names for what protoc-gen-ferry emits: namespaces, classes, methods, paths, files.
//
// Overview: every identifier the generator prints comes from here, so the renaming
// rules live in one place (and in codegen/README.md). Message types are named exactly as
// protobuf's own C++ generator names them (compiler/cpp/names.h), so the stubs refer to
// the classes in foo.pb.h. Wire paths are always built from the original proto names.
//
// Renaming rules (a name is changed only by appending '_', repeatedly, until it is free):
//   * Services: a service's class name may not be a C++ keyword, "Stub" or "Service"
//     (they would clash with the nested classes), the C++ name protobuf gives a message
//     or enum of the same package (e.g. Outer_Inner for Outer.Inner), nor the proto name
//     of another service of the package. Only the file and the files it imports are
//     seen; clashes with files it does not import go unnoticed (as in protobuf).
//   * Methods: a method's names M (handler and blocking stub call) and MAsync (async
//     stub call) may not be a C++ keyword, a member name of the generated classes
//     ("Stub", "Service", "channel_", "ferry_descriptor", "ferry_dispatch",
//     "kServiceName"), nor the service's own class name. Then names are made unique
//     within the service: they are given out first to the methods whose names need no
//     change and do not end in "Async", then to those ending in "Async", then to the
//     rest, each group in declaration order; a name already given out (as M or MAsync)
//     gets '_' appended too. So a method keeps its proto name whenever it can, and of Get
//     and GetAsync, Get keeps Get/GetAsync and GetAsync becomes GetAsync_/GetAsync_Async
//     whatever the declaration order.
//
// Example:
//   service a.b.Foo { rpc delete(...); rpc Get(...); rpc GetAsync(...); }
//   ServiceClassName(Foo)  == "Foo"
//   MethodCppNames(Foo)    == {{"delete_", "delete_Async"}, {"Get", "GetAsync"},
//                              {"GetAsync_", "GetAsync_Async"}}
//   MethodPath(delete)     == "/a.b.Foo/delete"
#ifndef FERRY_CODEGEN_NAMES_H_
#define FERRY_CODEGEN_NAMES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace ferry {
namespace codegen {

// True for C++20 keywords and alternative operator tokens ("and", "xor", ...).
bool IsCppKeyword(absl::string_view name);

// The C++ namespaces of a file's package, outermost first; empty for no package.
// Matches protobuf's C++ generator, which does not rename packages either.
std::vector<std::string> PackageNamespaces(const google::protobuf::FileDescriptor* file);

// The generated class for a service, unqualified ("Foo") and qualified ("::a::b::Foo").
std::string ServiceClassName(const google::protobuf::ServiceDescriptor* service);
std::string QualifiedServiceClassName(const google::protobuf::ServiceDescriptor* service);

struct MethodNames {
  std::string call;   // handler and blocking stub method
  std::string async;  // async stub method
};

// The C++ names of every method of `service`, indexed like service->method(i).
std::vector<MethodNames> MethodCppNames(const google::protobuf::ServiceDescriptor* service);

// protobuf's fully qualified C++ class for a message, e.g. "::a::b::Outer_Inner".
std::string MessageClassName(const google::protobuf::Descriptor* message);

// "/a.b.Foo/Get", or "/Foo/Get" without a package: original proto names, never renamed.
std::string MethodPath(const google::protobuf::MethodDescriptor* method);

// "dir/foo.proto" -> "dir/foo" (the stem of every generated file name).
std::string FileStem(const google::protobuf::FileDescriptor* file);

// The include guard for a generated header, e.g. "FERRY_GENERATED_DIR_FOO_FERRY_H_".
std::string HeaderGuard(absl::string_view generated_file_name);

}  // namespace codegen
}  // namespace ferry

#endif  // FERRY_CODEGEN_NAMES_H_
