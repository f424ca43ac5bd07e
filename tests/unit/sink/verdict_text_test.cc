// What the relaying hosts (proxy, milter) make of a verdict: Postfix's vocabulary mapped or
// refused, and the contract's defence (core/verdict_text.h ConformForRelayHost).
#include "core/verdict_text.h"

#include <gtest/gtest.h>

#include "sink_test_util.h"

namespace smtpbridge::sink::testing {
namespace {

TEST(ConformForRelayHost, DeferIfPermitIsATempfailWithTheDefault450) {
  auto v = MakeVerdict(v1::ACTION_DEFER_IF_PERMIT);
  const auto c = ConformForRelayHost(&v);
  EXPECT_EQ(c.refused, 0);
  EXPECT_EQ(v.action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(v.reply().code(), 450u);
  EXPECT_EQ(v.reply().enhanced_code(), "4.7.1");
  auto own = MakeVerdict(v1::ACTION_DEFER_IF_PERMIT, 451, "greylisted");
  ConformForRelayHost(&own);
  EXPECT_EQ(own.reply().code(), 451u);
}

TEST(ConformForRelayHost, WhatARelayCannotApplyIsRefusedAndCounted) {
  auto v = MakeVerdict(v1::ACTION_DEFER_IF_REJECT, 450, "x");
  EXPECT_EQ(ConformForRelayHost(&v).refused, 1);
  EXPECT_EQ(v.action(), v1::ACTION_CONTINUE);
  EXPECT_FALSE(v.has_reply());

  auto unknown = MakeVerdict(static_cast<v1::Action>(42), 550, "x");
  EXPECT_EQ(ConformForRelayHost(&unknown).refused, 1);
  EXPECT_EQ(unknown.action(), v1::ACTION_CONTINUE);

  v1::Verdict routing;
  routing.add_edits()->mutable_filter()->set_transport("smtp:[127.0.0.1]:10025");
  routing.add_edits()->mutable_redirect()->set_address("a@example.org");
  routing.add_edits()->mutable_warn()->set_text("look");
  routing.add_edits()->mutable_info()->set_text("fyi");
  routing.add_edits()->mutable_add_header()->set_name("X-Kept");
  const auto c = ConformForRelayHost(&routing);
  EXPECT_EQ(c.refused, 2);
  ASSERT_EQ(c.notes.size(), 2u);
  EXPECT_TRUE(c.notes[0].warn);
  EXPECT_EQ(c.notes[0].text, "look");
  EXPECT_FALSE(c.notes[1].warn);
  ASSERT_EQ(routing.edits_size(), 1);
  EXPECT_TRUE(routing.edits(0).has_add_header());
}

TEST(ConformForRelayHost, RepliesBreakingTheContractGiveWayToTheDefault) {
  auto reject = MakeVerdict(v1::ACTION_REJECT, 250, "ok");
  EXPECT_EQ(ConformForRelayHost(&reject).refused, 1);
  EXPECT_EQ(reject.action(), v1::ACTION_REJECT);
  EXPECT_FALSE(reject.has_reply());  // the host's 550 5.7.1 applies

  auto injected = MakeVerdict(v1::ACTION_TEMPFAIL, 451, "a\r\n250 ok");
  EXPECT_EQ(ConformForRelayHost(&injected).refused, 1);
  EXPECT_FALSE(injected.has_reply());

  auto respond = MakeVerdict(v1::ACTION_RESPOND, 354, "go on");
  EXPECT_EQ(ConformForRelayHost(&respond).refused, 1);
  EXPECT_EQ(respond.action(), v1::ACTION_CONTINUE);

  auto fine = MakeVerdict(v1::ACTION_RESPOND, 250, "swallowed");
  EXPECT_EQ(ConformForRelayHost(&fine).refused, 0);
  EXPECT_EQ(fine.action(), v1::ACTION_RESPOND);
}

}  // namespace
}  // namespace smtpbridge::sink::testing
