// Reloads swap the whole set atomically; a bad file keeps the previous set.
#include "server/bindings_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace smtpbridge::dispatcher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kOne = "bindings:\n  - {name: one, event: CONNECT, sink: x}\n";
constexpr const char* kTwo =
    "bindings:\n  - {name: one, event: CONNECT, sink: x}\n  - {name: two, event: CONNECT, sink: "
    "x}\n";

TEST(BindingsStoreTest, ReloadKeepsThePreviousSetWhenTheFileIsInvalid) {
  smtpbridge::testing::TempDir dir;
  const auto path = dir.Write("bindings.yaml", kOne).string();
  int swaps = 0;
  BindingsStore store(path, [&](const auto&) { ++swaps; });
  const auto first = store.Reload();
  ASSERT_TRUE(first.ok);
  EXPECT_EQ(first.generation, 1u);
  const auto set_one = store.Current();

  dir.Write("bindings.yaml", "bindings:\n  - {name: one, event: NOPE, sink: x}\n");
  const auto bad = store.Reload();
  EXPECT_FALSE(bad.ok);
  EXPECT_THAT(bad.errors, ElementsAre(HasSubstr("bindings.yaml:2: bindings[0].event: \"NOPE\"")));
  EXPECT_EQ(bad.generation, 1u);
  EXPECT_EQ(bad.bindings, 1u);
  EXPECT_EQ(store.Current(), set_one);  // the very same set
  EXPECT_EQ(store.generation(), 1u);

  dir.Write("bindings.yaml", kTwo);
  const auto good = store.Reload();
  ASSERT_TRUE(good.ok);
  EXPECT_EQ(good.generation, 2u);
  EXPECT_EQ(store.Current()->bindings().size(), 2u);
  EXPECT_EQ(swaps, 2);
  // An evaluation that started on the old set still holds it, unchanged.
  EXPECT_EQ(set_one->bindings().size(), 1u);
}

TEST(BindingsStoreTest, FirstLoadFailureLeavesNoSet) {
  smtpbridge::testing::TempDir dir;
  BindingsStore store((dir / "missing.yaml").string(), nullptr);
  EXPECT_FALSE(store.Reload().ok);
  EXPECT_EQ(store.Current(), nullptr);
  EXPECT_EQ(store.generation(), 0u);
}

}  // namespace
}  // namespace smtpbridge::dispatcher
