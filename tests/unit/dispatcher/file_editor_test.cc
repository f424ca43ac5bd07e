// bridgectl's file verbs: edits are validated with the loader and written atomically.
#include "bindings/file_editor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "bindings/loader.h"
#include "support/temp_dir.h"

namespace smtpbridge::dispatcher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

NewBinding Binding(const std::string& name) {
  NewBinding b;
  b.name = name;
  b.event = "INBOUND_COMMAND";
  b.rule = "RCPT TO=*@blocked.example;MAIL FROM=*@spam.example";
  b.sink = "ipv4:127.0.0.1:50051";
  return b;
}

TEST(FileEditorTest, AddCreatesTheFileAndTheResultLoads) {
  smtpbridge::testing::TempDir dir;
  const auto path = (dir / "bindings.yaml").string();
  std::string error;
  auto editor = BindingsFileEditor::Open(path, &error);
  ASSERT_TRUE(editor) << error;
  NewBinding b = Binding("block");
  b.priority = "PRIO_HIGH";
  b.timeout = "20ms";
  b.on_error = "tempfail";
  b.mode = "observe";
  b.instance = "2";
  ASSERT_TRUE(editor->Add(b, &error)) << error;
  EXPECT_THAT(editor->Save(), ElementsAre());
  const auto loaded = LoadBindingsFile(path);
  ASSERT_TRUE(loaded.ok()) << ::testing::PrintToString(loaded.errors);
  ASSERT_EQ(loaded.set->bindings().size(), 1u);
  const auto& p = loaded.set->bindings()[0].proto;
  EXPECT_EQ(p.rule(), "RCPT TO=*@blocked.example;MAIL FROM=*@spam.example");
  EXPECT_EQ(p.priority(), 8191u);
  EXPECT_EQ(p.instance(), 2u);
  EXPECT_EQ(p.on_error(), v1::ON_ERROR_TEMPFAIL);
  EXPECT_EQ(p.mode(), v1::BINDING_MODE_OBSERVE);
  EXPECT_FALSE(editor->Add(b, &error));
  EXPECT_THAT(error, HasSubstr("already exists"));
}

TEST(FileEditorTest, PropertiesEnableDisableRemove) {
  smtpbridge::testing::TempDir dir;
  const auto path = dir.Write("bindings.yaml", R"(bindings:
  - name: a
    event: INBOUND_COMMAND
    rule: RCPT
    sink: ipv4:127.0.0.1:50051
  - name: b
    event: CONNECT
    sink: ipv4:127.0.0.1:50051
)")
                        .string();
  std::string error;
  auto editor = BindingsFileEditor::Open(path, &error);
  ASSERT_TRUE(editor) << error;
  ASSERT_TRUE(editor->SetProperty("a", "max", "10", &error)) << error;
  ASSERT_TRUE(editor->SetProperty("a", "list", "x,y", &error)) << error;
  ASSERT_TRUE(editor->DeleteProperty("a", "list", &error)) << error;
  EXPECT_FALSE(editor->DeleteProperty("a", "nope", &error));
  ASSERT_TRUE(editor->SetEnabled("b", false, &error)) << error;
  EXPECT_FALSE(editor->SetEnabled("zzz", false, &error));
  EXPECT_THAT(error, HasSubstr("no binding named \"zzz\""));
  ASSERT_THAT(editor->Save(), ElementsAre());
  auto loaded = LoadBindingsFile(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.set->bindings()[0].proto.sink_properties().size(), 1u);
  EXPECT_EQ(loaded.set->bindings()[0].proto.sink_properties().at("max"), "10");
  EXPECT_FALSE(loaded.set->bindings()[1].proto.enabled());

  editor = BindingsFileEditor::Open(path, &error);
  ASSERT_TRUE(editor->Remove("a", &error)) << error;
  ASSERT_THAT(editor->Save(), ElementsAre());
  loaded = LoadBindingsFile(path);
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded.set->bindings().size(), 1u);
  EXPECT_EQ(loaded.set->bindings()[0].name(), "b");
}

TEST(FileEditorTest, InvalidResultIsNotWritten) {
  smtpbridge::testing::TempDir dir;
  const std::string original = "bindings:\n  - {name: a, event: CONNECT, sink: x}\n";
  const auto path = dir.Write("bindings.yaml", original).string();
  std::string error;
  auto editor = BindingsFileEditor::Open(path, &error);
  ASSERT_TRUE(editor) << error;
  NewBinding bad = Binding("bad");
  bad.priority = "PRIO_HUGE";
  ASSERT_TRUE(editor->Add(bad, &error));
  EXPECT_THAT(editor->Save(),
              ElementsAre(HasSubstr("bindings[1].priority: \"PRIO_HUGE\" is not a number")));
  EXPECT_EQ(Read(path), original);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);  // no temp file left behind
}

}  // namespace
}  // namespace smtpbridge::dispatcher
