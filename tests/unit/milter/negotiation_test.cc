// Which steps, no-reply flags, actions and macros the milter asks for, given the bindings.
#include "milter/negotiation.h"

#include <gtest/gtest.h>

#include "unit/milter/fake_sink.h"

namespace smtpbridge::milter {
namespace {

constexpr uint32_t kAllSteps = 0x1fffff;  // what Postfix 3.7 offers
constexpr uint32_t kAllActions = 0x1ff;

OptNegReply Negotiated(const Interests& in, uint32_t offered_steps = kAllSteps,
                       uint32_t offered_actions = kAllActions) {
  std::string error;
  auto r = Negotiate(OptNeg{6, offered_actions, offered_steps}, in, &error);
  EXPECT_TRUE(r) << error;
  return r.value_or(OptNegReply{});
}

TEST(Negotiation, RcptOnlyReceivesContextWithoutWaitingAndSkipsTheMessage) {
  Interests in;
  in.rcpt = true;
  auto r = Negotiated(in);
  // connect, helo, mail: received for the context, never answered.
  EXPECT_TRUE(r.protocol & step::kNoReplyConnect);
  EXPECT_TRUE(r.protocol & step::kNoReplyHelo);
  EXPECT_TRUE(r.protocol & step::kNoReplyMail);
  EXPECT_FALSE(r.protocol & (step::kNoConnect | step::kNoHelo | step::kNoMail));
  // rcpt: received and answered.
  EXPECT_FALSE(r.protocol & (step::kNoRcpt | step::kNoReplyRcpt));
  // the message: not received at all.
  EXPECT_TRUE(r.protocol & step::kNoData);
  EXPECT_TRUE(r.protocol & step::kNoHeaders);
  EXPECT_TRUE(r.protocol & step::kNoBody);
  EXPECT_TRUE(r.protocol & step::kNoEoh);
  EXPECT_EQ(r.version, 6u);
}

TEST(Negotiation, NothingWantedSkipsEveryStep) {
  auto r = Negotiated(Interests{});
  for (uint32_t f : {step::kNoConnect, step::kNoHelo, step::kNoMail, step::kNoRcpt, step::kNoData,
                     step::kNoHeaders, step::kNoBody, step::kNoEoh, step::kNoUnknown})
    EXPECT_TRUE(r.protocol & f) << f;
}

TEST(Negotiation, EndOfDataReceivesHeadersAndBodyWithoutReplies) {
  Interests in;
  in.eom = true;
  in.body_limit = 4096;
  auto r = Negotiated(in);
  EXPECT_FALSE(r.protocol & (step::kNoHeaders | step::kNoBody | step::kNoRcpt | step::kNoMail));
  EXPECT_TRUE(r.protocol & step::kNoReplyHeader);
  EXPECT_TRUE(r.protocol & step::kNoReplyBody);
  EXPECT_TRUE(r.protocol & step::kNoReplyEoh);
  EXPECT_FALSE(r.protocol & step::kNoEoh);
  EXPECT_TRUE(r.protocol & step::kNoReplyRcpt);
  EXPECT_TRUE(r.protocol & step::kNoData);

  in.body_limit = 0;  // headers only
  EXPECT_TRUE(Negotiated(in).protocol & step::kNoBody);
}

TEST(Negotiation, OnlyOfferedFlagsAndActionsAreUsed) {
  Interests in;
  in.rcpt = true;
  const uint32_t offered = step::kNoConnect | step::kNoHelo;  // an old MTA without NR_*
  auto r = Negotiated(in, offered, action::kAddHeaders);
  EXPECT_EQ(r.protocol & ~offered, 0u);
  EXPECT_EQ(r.actions, action::kAddHeaders);
  EXPECT_TRUE(r.macros.empty());  // no SETSYMLIST offered
}

TEST(Negotiation, AsksForTheEditActionsAndMacros) {
  auto r = Negotiated(Interests{.eom = true});
  for (uint32_t a : {action::kAddHeaders, action::kChangeHeaders, action::kChangeFrom,
                     action::kAddRcpt, action::kAddRcptPar, action::kDelRcpt, action::kQuarantine,
                     action::kChangeBody, action::kSetSymList})
    EXPECT_TRUE(r.actions & a) << a;
  ASSERT_TRUE(r.macros.count(stage::kConnect));
  EXPECT_NE(r.macros.at(stage::kConnect).find("{client_addr}"), std::string::npos);
  EXPECT_NE(r.macros.at(stage::kEnvFrom).find("{auth_authen}"), std::string::npos);
  EXPECT_EQ(r.macros.at(stage::kEom), "i");
}

TEST(Negotiation, RejectsAncientProtocolVersions) {
  std::string error;
  EXPECT_FALSE(Negotiate(OptNeg{1, kAllActions, kAllSteps}, Interests{}, &error));
  EXPECT_NE(error.find("version"), std::string::npos);
  auto r = Negotiate(OptNeg{2, kAllActions, kAllSteps}, Interests{}, &error);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 2u);
}

TEST(Negotiation, InterestsComeFromTheSink) {
  testing::FakeSink sink;
  sink.wanted = {"INBOUND_COMMAND:RCPT", "INBOUND_COMMAND:_EOD", "CONNECT:"};
  sink.body_limit = 1000;
  Interests in = InterestsFromSink(sink, 1);
  EXPECT_TRUE(in.connect);
  EXPECT_FALSE(in.helo);
  EXPECT_FALSE(in.mail);
  EXPECT_TRUE(in.rcpt);
  EXPECT_FALSE(in.data);
  EXPECT_TRUE(in.eom);
  EXPECT_TRUE(in.unknown);  // any inbound binding might name an unknown verb
  EXPECT_EQ(in.body_limit, 1000u);

  sink.wanted = {"INBOUND_COMMAND:HELO"};
  EXPECT_TRUE(InterestsFromSink(sink, 1).helo);
}

}  // namespace
}  // namespace smtpbridge::milter
