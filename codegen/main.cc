// protoc-gen-ferry: run by protoc as `protoc --plugin=protoc-gen-ferry=... --ferry_out=DIR`.
#include "codegen/generator.h"
#include "google/protobuf/compiler/plugin.h"

int main(int argc, char* argv[]) {
  ferry::codegen::FerryGenerator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
