#include <gtest/gtest.h>

#include <stdexcept>

#include "smtpbridge/worker/verdict.h"

namespace smtpbridge::worker {
namespace {

using namespace std::chrono_literals;

TEST(VerdictBuilder, ContinueIsAnExplicitContinueWithNothingElse) {
  const auto v = Verdict::Continue().proto();
  EXPECT_EQ(v.action(), v1::ACTION_CONTINUE);
  EXPECT_FALSE(v.has_reply());
  EXPECT_EQ(v.edits_size(), 0);
}

TEST(VerdictBuilder, RespondCarriesTheReply) {
  const auto v = Verdict::Respond(250, "2.0.0", "Swallowed").proto();
  EXPECT_EQ(v.action(), v1::ACTION_RESPOND);
  EXPECT_EQ(v.reply().code(), 250u);
  EXPECT_EQ(v.reply().enhanced_code(), "2.0.0");
  ASSERT_EQ(v.reply().lines_size(), 1);
  EXPECT_EQ(v.reply().lines(0), "Swallowed");
}

TEST(VerdictBuilder, RejectAndTempfailWithoutReplyLeaveTheDefaultToTheHost) {
  EXPECT_EQ(Verdict::Reject().proto().action(), v1::ACTION_REJECT);
  EXPECT_FALSE(Verdict::Reject().proto().has_reply());
  EXPECT_EQ(Verdict::Tempfail().proto().action(), v1::ACTION_TEMPFAIL);
  EXPECT_FALSE(Verdict::Tempfail().proto().has_reply());
}

TEST(VerdictBuilder, MultiLineTextBecomesReplyLinesWithoutLineBreaks) {
  const auto v = Verdict::Reject(554, "5.7.1", "first\r\nsecond\nthird").proto();
  ASSERT_EQ(v.reply().lines_size(), 3);
  EXPECT_EQ(v.reply().lines(0), "first");
  EXPECT_EQ(v.reply().lines(1), "second");
  EXPECT_EQ(v.reply().lines(2), "third");
}

TEST(VerdictBuilder, ReplyCodeMustMatchTheAction) {
  EXPECT_THROW(Verdict::Reject(451, "4.7.1", "x"), std::invalid_argument);
  EXPECT_THROW(Verdict::Tempfail(550, "5.7.1", "x"), std::invalid_argument);
  EXPECT_THROW(Verdict::Respond(99, "", "x"), std::invalid_argument);
  EXPECT_THROW(Verdict::Continue().Reply(600, "", "x"), std::invalid_argument);
  EXPECT_NO_THROW(Verdict::Tempfail(421, "4.3.2", "x"));
}

TEST(VerdictBuilder, DropSessionUses421WhenGivenText) {
  EXPECT_FALSE(Verdict::DropSession().proto().has_reply());
  const auto v = Verdict::DropSession("Too many errors").proto();
  EXPECT_EQ(v.action(), v1::ACTION_DROP_SESSION);
  EXPECT_EQ(v.reply().code(), 421u);
  EXPECT_EQ(v.reply().lines(0), "Too many errors");
}

TEST(VerdictBuilder, SkipRecipient) {
  EXPECT_EQ(Verdict::SkipRecipient().proto().action(), v1::ACTION_SKIP_RECIPIENT);
}

TEST(VerdictBuilder, OutboundRewritesAndNextState) {
  auto b = Verdict::Continue();
  b.SetCommand("MAIL FROM:<x@y>")
      .Append(" SIZE=10")
      .Append(" BODY=8BITMIME")
      .NextState(v1::OUTBOUND_STATE_SESSION_END);
  const auto& v = b.proto();
  EXPECT_EQ(v.command().set_command(), "MAIL FROM:<x@y>");
  EXPECT_EQ(v.command().append(), " SIZE=10 BODY=8BITMIME");
  EXPECT_EQ(v.next_state(), v1::OUTBOUND_STATE_SESSION_END);
}

TEST(VerdictBuilder, MessageEditsKeepTheirOrderAndFields) {
  auto b = Verdict::Continue();
  b.AddHeader("X-Policy", "checked")
      .InsertHeader(0, "X-First", "1")
      .ChangeHeader("Subject", "[spam] hi", 2)
      .DeleteHeader("X-Old")
      .ChangeSender("new@example.com", "SIZE=1")
      .AddRecipient("copy@example.com")
      .DeleteRecipient("gone@example.com")
      .Quarantine("suspicious")
      .Discard()
      .ReplaceBody("new body");
  const auto& e = b.proto().edits();
  ASSERT_EQ(e.size(), 10);
  EXPECT_EQ(e[0].add_header().name(), "X-Policy");
  EXPECT_EQ(e[0].add_header().value(), "checked");
  EXPECT_EQ(e[1].insert_header().index(), 0u);
  EXPECT_EQ(e[1].insert_header().name(), "X-First");
  EXPECT_EQ(e[2].change_header().occurrence(), 2u);
  EXPECT_EQ(e[2].change_header().value(), "[spam] hi");
  EXPECT_EQ(e[3].change_header().name(), "X-Old");
  EXPECT_TRUE(e[3].change_header().value().empty());
  EXPECT_EQ(e[4].change_sender().address(), "new@example.com");
  EXPECT_EQ(e[4].change_sender().parameters(), "SIZE=1");
  EXPECT_EQ(e[5].add_recipient().address(), "copy@example.com");
  EXPECT_EQ(e[6].delete_recipient().address(), "gone@example.com");
  EXPECT_EQ(e[7].quarantine().reason(), "suspicious");
  EXPECT_EQ(e[8].edit_case(), v1::MessageEdit::kDiscard);
  EXPECT_EQ(e[9].replace_body().body(), "new body");
}

TEST(VerdictBuilder, CacheReasonAndTags) {
  auto b = Verdict::Reject();
  b.CacheFor(1500ms, v1::CACHE_SCOPE_RECIPIENT).Reason("first").Reason("blocked").Tag("a").Tag("b");
  const auto& v = b.proto();
  EXPECT_EQ(v.cache_ttl().seconds(), 1);
  EXPECT_EQ(v.cache_ttl().nanos(), 500000000);
  EXPECT_EQ(v.cache_scope(), v1::CACHE_SCOPE_RECIPIENT);
  EXPECT_EQ(v.reason(), "blocked");
  ASSERT_EQ(v.tags_size(), 2);
  EXPECT_EQ(v.tags(1), "b");
  EXPECT_THROW(Verdict::Continue().CacheFor(-1ms), std::invalid_argument);
}

// A hostile or careless verdict fails in the author's own code, as in every SDK (docs/sdk.md),
// instead of being refused by the dispatcher in front of an SMTP client.
TEST(VerdictBuilder, InvalidEditsAndCodesThrowWhenBuilt) {
  EXPECT_THROW(Verdict::Continue().AddHeader("X-A", "v\r\nX-Injected: yes"), std::invalid_argument);
  EXPECT_THROW(Verdict::Continue().AddHeader("Bad Name", "v"), std::invalid_argument);
  EXPECT_THROW(Verdict::Continue().ChangeHeader("X:A", "v"), std::invalid_argument);
  EXPECT_THROW(Verdict::Continue().ChangeSender("ok@example.org> AUTH=<x@example.org"),
               std::invalid_argument);
  EXPECT_THROW(Verdict::Continue().AddRecipient("a@example.org", "NOTIFY=NEVER\r\nRCPT TO:<b@x>"),
               std::invalid_argument);
  EXPECT_THROW(Verdict::Continue().AddRecipient(""), std::invalid_argument);
  EXPECT_THROW(Verdict::Continue().Quarantine("held\r\nX-Injected: yes"), std::invalid_argument);
  EXPECT_THROW(Verdict::Reject(550, "4.7.1", "wrong class"), std::invalid_argument);
  EXPECT_THROW(Verdict::Reject(550, "5.x.1", "bad syntax"), std::invalid_argument);
  EXPECT_THROW(Verdict::Reject(250, "2.0.0", "a 2xx reject"), std::invalid_argument);
  // What is valid still builds.
  EXPECT_NO_THROW(Verdict::Continue()
                      .AddHeader("X-Policy", "checked")
                      .ChangeSender("")  // the null sender
                      .AddRecipient("archive@example.org", "NOTIFY=NEVER")
                      .Quarantine("held for review"));
  EXPECT_NO_THROW(Verdict::Reject(550, "5.7.1", "blocked"));
}

}  // namespace
}  // namespace smtpbridge::worker
