// The renaming rules of codegen/names.h on contrived inputs that the golden protos do
// not cover: order independence, chains of underscores, clashes across imported files.
#include "codegen/names.h"

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace ferry {
namespace codegen {
namespace {

using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::FileDescriptorProto;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Builds a file from a text-format FileDescriptorProto, as protoc would have parsed it.
const FileDescriptor* BuildFile(DescriptorPool& pool, absl::string_view text) {
  FileDescriptorProto proto;
  if (!google::protobuf::TextFormat::ParseFromString(std::string(text), &proto)) {
    ADD_FAILURE() << "bad FileDescriptorProto text: " << text;
    return nullptr;
  }
  const FileDescriptor* file = pool.BuildFile(proto);
  EXPECT_NE(file, nullptr) << text;
  return file;
}

// "name: 'X' input_type: '.p.M' output_type: '.p.M'" for each method name.
std::string Methods(const std::vector<std::string>& names, absl::string_view message) {
  std::string text;
  for (const std::string& name : names) {
    text += "method { name: '" + name + "' input_type: '" + std::string(message) +
            "' output_type: '" + std::string(message) + "' } ";
  }
  return text;
}

std::vector<std::string> CallNames(const google::protobuf::ServiceDescriptor* service) {
  std::vector<std::string> names;
  for (const MethodNames& method : MethodCppNames(service)) {
    EXPECT_EQ(method.async, method.call + "Async");
    names.push_back(method.call);
  }
  return names;
}

TEST(IsCppKeywordTest, KnowsKeywordsAndAlternativeTokens) {
  for (absl::string_view word : {"delete", "class", "new", "and", "xor_eq", "co_await",
                                 "char8_t", "requires", "this", "nullptr"}) {
    EXPECT_TRUE(IsCppKeyword(word)) << word;
  }
  for (absl::string_view word : {"Delete", "get", "delete_", "", "std", "main", "final"}) {
    EXPECT_FALSE(IsCppKeyword(word)) << word;
  }
}

TEST(MethodCppNamesTest, AsyncSuffixedMethodYieldsWhateverTheOrder) {
  DescriptorPool pool;
  const FileDescriptor* file = BuildFile(
      pool, "name: 'a.proto' package: 'p' message_type { name: 'M' } "
            "service { name: 'First' " + Methods({"GetAsync", "Get"}, ".p.M") + "} " +
            "service { name: 'Second' " + Methods({"Get", "GetAsync"}, ".p.M") + "}");
  ASSERT_NE(file, nullptr);
  EXPECT_THAT(CallNames(file->service(0)), ElementsAre("GetAsync_", "Get"));
  EXPECT_THAT(CallNames(file->service(1)), ElementsAre("Get", "GetAsync_"));
}

TEST(MethodCppNamesTest, UnderscoresAccumulateUntilFree) {
  DescriptorPool pool;
  const FileDescriptor* file = BuildFile(
      pool, "name: 'a.proto' package: 'p' message_type { name: 'M' } "
            "service { name: 'S' " + Methods({"Get", "GetAsync", "GetAsync_"}, ".p.M") + "}");
  ASSERT_NE(file, nullptr);
  // GetAsync_ is named before GetAsync (it does not end in "Async") and keeps its name,
  // so GetAsync skips both GetAsync (Get's async call) and GetAsync_.
  EXPECT_THAT(CallNames(file->service(0)), ElementsAre("Get", "GetAsync__", "GetAsync_"));
}

TEST(MethodCppNamesTest, AsyncNameMayNotBeTheServiceClass) {
  DescriptorPool pool;
  const FileDescriptor* file = BuildFile(
      pool, "name: 'a.proto' package: 'p' message_type { name: 'M' } "
            "service { name: 'FooAsync' " + Methods({"Foo", "FooAsync", "Bar"}, ".p.M") + "}");
  ASSERT_NE(file, nullptr);
  EXPECT_THAT(CallNames(file->service(0)), ElementsAre("Foo_", "FooAsync_", "Bar"));
}

TEST(MethodCppNamesTest, KeywordAndMemberNames) {
  DescriptorPool pool;
  const FileDescriptor* file = BuildFile(
      pool, "name: 'a.proto' package: 'p' message_type { name: 'M' } "
            "service { name: 'S' " +
                Methods({"delete", "delete_", "channel_", "S", "kServiceName", "Async"},
                        ".p.M") +
                "}");
  ASSERT_NE(file, nullptr);
  EXPECT_THAT(CallNames(file->service(0)),
              ElementsAre("delete__", "delete_", "channel__", "S_", "kServiceName_", "Async"));
}

TEST(ServiceClassNameTest, KeywordsAndNestedClassNames) {
  DescriptorPool pool;
  const FileDescriptor* file = BuildFile(
      pool, "name: 'a.proto' package: 'p' "
            "service { name: 'class' } service { name: 'class_' } "
            "service { name: 'Stub' } service { name: 'Service' } service { name: 'Plain' }");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(ServiceClassName(file->service(0)), "class__");
  EXPECT_EQ(ServiceClassName(file->service(1)), "class_");
  EXPECT_EQ(ServiceClassName(file->service(2)), "Stub_");
  EXPECT_EQ(ServiceClassName(file->service(3)), "Service_");
  EXPECT_EQ(ServiceClassName(file->service(4)), "Plain");
  EXPECT_EQ(QualifiedServiceClassName(file->service(0)), "::p::class__");
}

TEST(ServiceClassNameTest, NestedTypesOfThePackageAcrossImports) {
  DescriptorPool pool;
  ASSERT_NE(BuildFile(pool, "name: 'types.proto' package: 'p' message_type { name: 'Outer' "
                            "nested_type { name: 'In' } enum_type { name: 'Color' "
                            "value { name: 'RED' number: 0 } } }"),
            nullptr);
  const FileDescriptor* same_package = BuildFile(
      pool, "name: 'same.proto' package: 'p' dependency: 'types.proto' "
            "service { name: 'Outer_In' } service { name: 'Outer_Color' }");
  const FileDescriptor* other_package = BuildFile(
      pool, "name: 'other.proto' package: 'q' dependency: 'types.proto' "
            "service { name: 'Outer_In' }");
  ASSERT_NE(same_package, nullptr);
  ASSERT_NE(other_package, nullptr);
  EXPECT_EQ(ServiceClassName(same_package->service(0)), "Outer_In_");
  EXPECT_EQ(ServiceClassName(same_package->service(1)), "Outer_Color_");
  EXPECT_EQ(ServiceClassName(other_package->service(0)), "Outer_In");
}

TEST(NamesTest, PathsNamespacesTypesAndGuards) {
  DescriptorPool pool;
  const FileDescriptor* packaged = BuildFile(
      pool, "name: 'dir/a.proto' package: 'x.y' message_type { name: 'Outer' "
            "nested_type { name: 'In' } } "
            "service { name: 'class' method { name: 'delete' input_type: '.x.y.Outer.In' "
            "output_type: '.x.y.Outer' } }");
  const FileDescriptor* global = BuildFile(
      pool, "name: 'b.protodevel' message_type { name: 'M' } "
            "service { name: 'G' " + Methods({"Get"}, ".M") + "}");
  ASSERT_NE(packaged, nullptr);
  ASSERT_NE(global, nullptr);
  // Wire paths keep the proto names even where the C++ names change.
  EXPECT_EQ(MethodPath(packaged->service(0)->method(0)), "/x.y.class/delete");
  EXPECT_EQ(MethodPath(global->service(0)->method(0)), "/G/Get");
  EXPECT_THAT(PackageNamespaces(packaged), ElementsAre("x", "y"));
  EXPECT_THAT(PackageNamespaces(global), IsEmpty());
  EXPECT_EQ(MessageClassName(packaged->service(0)->method(0)->input_type()), "::x::y::Outer_In");
  EXPECT_EQ(MessageClassName(global->message_type(0)), "::M");
  EXPECT_EQ(FileStem(packaged), "dir/a");
  EXPECT_EQ(FileStem(global), "b");
  EXPECT_EQ(HeaderGuard("dir/my-file.ferry.h"), "FERRY_GENERATED_DIR_MY_FILE_FERRY_H_");
}

}  // namespace
}  // namespace codegen
}  // namespace ferry
