// protoc-gen-ferry's code generator: foo.proto -> foo.ferry.h, foo.ferry.cc.
//
// Overview: for each service Foo the header declares `class Foo final` holding
// kServiceName, a client `Foo::Stub` (one blocking and one async call per method, both
// forwarding to ferry::Channel) and a server skeleton `Foo::Service` (one virtual handler
// per method, defaulting to UNIMPLEMENTED, plus the method table and a dispatch switch
// into ferry::internal::RunUnary). The code sits in the namespace protobuf uses for the
// package, next to the message classes of foo.pb.h, which it includes. Names follow
// codegen/names.h; codegen/README.md shows the emitted API.
//
// Errors: generation fails, naming file, service and method, for streaming methods (the
// runtime has no streaming API yet) and for generator parameters (there are none).
// Nothing is written for a file that fails.
//
// Example (main.cc):
//   ferry::codegen::FerryGenerator generator;
//   return google::protobuf::compiler::PluginMain(argc, argv, &generator);
#ifndef FERRY_CODEGEN_GENERATOR_H_
#define FERRY_CODEGEN_GENERATOR_H_

#include <cstdint>
#include <string>

#include "google/protobuf/compiler/code_generator.h"
#include "google/protobuf/descriptor.h"

namespace ferry {
namespace codegen {

class FerryGenerator final : public google::protobuf::compiler::CodeGenerator {
 public:
  bool Generate(const google::protobuf::FileDescriptor* file, const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override;

  // Proto3 `optional` fields only change message code, which protoc's C++ generator
  // writes; without this flag protoc refuses to run the plugin on such files.
  uint64_t GetSupportedFeatures() const override { return FEATURE_PROTO3_OPTIONAL; }
};

}  // namespace codegen
}  // namespace ferry

#endif  // FERRY_CODEGEN_GENERATOR_H_
