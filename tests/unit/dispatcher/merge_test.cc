// Priority merge of verdicts: the first non-continue consumes, continue effects accumulate.
#include "dispatch/merge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {
namespace {

using ::testing::ElementsAre;

v1::Verdict Continue() {
  v1::Verdict v;
  v.set_action(v1::ACTION_CONTINUE);
  return v;
}

v1::Verdict Reject(const std::string& text) {
  v1::Verdict v;
  v.set_action(v1::ACTION_REJECT);
  v.mutable_reply()->set_code(550);
  v.mutable_reply()->add_lines(text);
  return v;
}

TEST(MergeTest, FirstNonContinueConsumesAndLaterVerdictsDoNotCount) {
  VerdictMerger m;
  v1::Verdict tagged = Continue();
  tagged.add_tags("seen");
  tagged.mutable_command()->set_append(" X=1");
  EXPECT_FALSE(m.Add(tagged));
  v1::Verdict reject = Reject("no");
  reject.add_tags("blocked");
  EXPECT_TRUE(m.Add(reject));
  EXPECT_TRUE(m.Add(Reject("later")));
  const auto v = m.Result();
  EXPECT_EQ(v.action(), v1::ACTION_REJECT);
  EXPECT_EQ(v.reply().lines(0), "no");
  EXPECT_THAT(v.tags(), ElementsAre("seen", "blocked"));
  EXPECT_TRUE(v.command().append().empty());  // the event is consumed: no rewrite
}

TEST(MergeTest, UnspecifiedActionIsContinue) {
  VerdictMerger m;
  EXPECT_FALSE(m.Add(v1::Verdict{}));
  EXPECT_EQ(m.Result().action(), v1::ACTION_CONTINUE);
}

TEST(MergeTest, ContinueEffectsAccumulateInPriorityOrder) {
  VerdictMerger m;
  v1::Verdict a = Continue();
  a.mutable_command()->set_append(" NOTIFY=NEVER");
  a.add_tags("a");
  a.set_reason("first");
  a.add_edits()->mutable_add_header()->set_name("X-A");
  v1::Verdict b = Continue();
  b.mutable_command()->set_set_command("RCPT TO:<rewritten@b>");
  b.mutable_command()->set_append(" ORCPT=rfc822;x@y");
  b.add_tags("b");
  b.add_tags("a");
  b.set_next_state(v1::OUTBOUND_STATE_SESSION_END);
  b.add_edits()->mutable_add_header()->set_name("X-B");
  v1::Verdict c = Continue();
  c.mutable_command()->set_set_command("RCPT TO:<ignored@c>");
  c.set_next_state(v1::OUTBOUND_STATE_MESSAGE_START);
  c.mutable_reply()->set_code(250);
  c.set_reason("third");
  for (const auto& v : {a, b, c}) EXPECT_FALSE(m.Add(v));
  const auto v = m.Result();
  EXPECT_EQ(v.action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(v.command().set_command(), "RCPT TO:<rewritten@b>");
  EXPECT_EQ(v.command().append(), " NOTIFY=NEVER ORCPT=rfc822;x@y");
  EXPECT_THAT(v.tags(), ElementsAre("a", "b"));
  EXPECT_EQ(v.next_state(), v1::OUTBOUND_STATE_SESSION_END);
  EXPECT_EQ(v.reply().code(), 250u);
  ASSERT_EQ(v.edits_size(), 2);
  EXPECT_EQ(v.edits(0).add_header().name(), "X-A");
  EXPECT_EQ(v.edits(1).add_header().name(), "X-B");
  EXPECT_EQ(v.reason(), "first; third");
}

TEST(MergeTest, MergedCacheTtlIsTheSmallestAndNeedsOneScope) {
  auto with_ttl = [](int seconds, v1::CacheScope scope) {
    v1::Verdict v = Continue();
    *v.mutable_cache_ttl() = v1::ToProtoDuration(std::chrono::seconds(seconds));
    v.set_cache_scope(scope);
    return v;
  };
  VerdictMerger m;
  m.Add(with_ttl(60, v1::CACHE_SCOPE_RECIPIENT));
  m.Add(with_ttl(10, v1::CACHE_SCOPE_RECIPIENT));
  EXPECT_EQ(v1::FromProtoDuration(m.Result().cache_ttl()), std::chrono::seconds(10));
  EXPECT_EQ(m.Result().cache_scope(), v1::CACHE_SCOPE_RECIPIENT);

  VerdictMerger mixed;
  mixed.Add(with_ttl(60, v1::CACHE_SCOPE_RECIPIENT));
  mixed.Add(with_ttl(60, v1::CACHE_SCOPE_SENDER));
  EXPECT_EQ(v1::FromProtoDuration(mixed.Result().cache_ttl()), std::chrono::seconds(0));

  VerdictMerger uncached;
  uncached.Add(with_ttl(60, v1::CACHE_SCOPE_RECIPIENT));
  uncached.Add(Continue());
  EXPECT_EQ(v1::FromProtoDuration(uncached.Result().cache_ttl()), std::chrono::seconds(0));
}

TEST(MergeTest, OnErrorVerdicts) {
  v1::Binding b;
  b.set_name("rbl");
  b.set_on_error(v1::ON_ERROR_CONTINUE);
  EXPECT_TRUE(IsContinue(OnErrorVerdict(b, "timeout")));
  b.set_on_error(v1::ON_ERROR_UNSPECIFIED);
  EXPECT_TRUE(IsContinue(OnErrorVerdict(b, "timeout")));
  b.set_on_error(v1::ON_ERROR_TEMPFAIL);
  auto v = OnErrorVerdict(b, "timeout");
  EXPECT_EQ(v.action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(v1::ReplyText(v.reply()), "451 4.7.1 Temporary policy failure");
  EXPECT_EQ(v.reason(), "binding rbl: timeout (on_error=tempfail)");
  b.set_on_error(v1::ON_ERROR_REJECT);
  v = OnErrorVerdict(b, "error: unavailable");
  EXPECT_EQ(v.action(), v1::ACTION_REJECT);
  EXPECT_EQ(v1::ReplyText(v.reply()), "550 5.7.1 Rejected by policy");
  EXPECT_EQ(v.reason(), "binding rbl: error: unavailable (on_error=reject)");
}

// #14: the client-visible text never names the binding; an operator may set it per binding.
TEST(MergeTest, OnErrorReplyIsGenericOrTheBindingsOwn) {
  v1::Binding b;
  b.set_name("internal-rbl-cluster-3");
  b.set_on_error(v1::ON_ERROR_TEMPFAIL);
  auto v = OnErrorVerdict(b, "timeout");
  EXPECT_EQ(v1::ReplyText(v.reply()).find("internal-rbl"), std::string::npos);
  EXPECT_NE(v.reason().find("internal-rbl-cluster-3"), std::string::npos);
  b.mutable_on_error_reply()->set_code(450);
  b.mutable_on_error_reply()->set_enhanced_code("4.7.0");
  b.mutable_on_error_reply()->add_lines("Try again later");
  v = OnErrorVerdict(b, "timeout");
  EXPECT_EQ(v1::ReplyText(v.reply()), "450 4.7.0 Try again later");
}

}  // namespace
}  // namespace smtpbridge::dispatcher
