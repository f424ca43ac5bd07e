// An observe-mode binding is evaluated but never changes the decision.
#include <gtest/gtest.h>

#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;

TEST(ObserveMode, ObservedRejectNeverChangesTheDecision) {
  testing::TempDir dir;
  const auto bindings = dir.Write(
      "bindings.yaml",
      BindingsYaml({{.name = "observed-reject",
                     .sink = Workers::Fast().address,
                     .priority = 0,
                     .mode = "observe"},
                    {.name = "enforced", .sink = Workers::Slow().address, .priority = 100}}));
  auto dispatcher = StartDispatcher(dir, bindings, "dispatcher");
  auto sink = sink::MakeSink(TestSinkOptions(dispatcher.address));

  // Both reject blocked@; the observed one has the higher priority but must not be the one
  // that decides.
  auto e1 = EvaluateAndWait(*sink, RcptEvent("blocked@example.com", 2000ms), 2000ms);
  ASSERT_TRUE(e1.has_value());
  ASSERT_EQ(e1->source, sink::VerdictSource::kDispatcher) << sink::FallbackReasonName(e1->reason);
  EXPECT_EQ(e1->verdict.action(), v1::ACTION_REJECT);
  EXPECT_EQ(e1->decided_by, "enforced");

  // With only the observed binding, even a recipient it rejects continues.
  testing::TempDir dir2;
  const auto only_observed = dir2.Write(
      "bindings.yaml",
      BindingsYaml(
          {{.name = "observed-reject", .sink = Workers::Fast().address, .mode = "observe"}}));
  auto dispatcher2 = StartDispatcher(dir2, only_observed, "dispatcher2");
  auto sink2 = sink::MakeSink(TestSinkOptions(dispatcher2.address));
  const auto e = EvaluateAndWait(*sink2, RcptEvent("blocked@example.com", 2000ms), 2000ms);
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(e->source, sink::VerdictSource::kDispatcher);
  EXPECT_NE(e->verdict.action(), v1::ACTION_REJECT);
  EXPECT_TRUE(e->decided_by.empty());
}

}  // namespace
}  // namespace smtpbridge::integration
