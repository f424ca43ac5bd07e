// The verdict contract (dispatch/verdict_validation.h): each rule refused with its own problem
// name, and the verdicts the conformance vectors use accepted.
#include "dispatch/verdict_validation.h"

#include <gtest/gtest.h>

#include <functional>

#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::dispatcher {
namespace {

v1::Event Inbound(const std::string& keyword) {
  v1::Event e;
  e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  e.mutable_command()->set_keyword(keyword);
  return e;
}

v1::Event ServerResponse(uint32_t code) {
  v1::Event e;
  e.set_type(v1::EVENT_TYPE_SERVER_RESPONSE);
  e.mutable_response()->set_code(code);
  return e;
}

v1::Verdict With(v1::Action action, uint32_t code, std::string enhanced = {},
                 std::vector<std::string> lines = {}) {
  v1::Verdict v;
  v.set_action(action);
  v.mutable_reply()->set_code(code);
  v.mutable_reply()->set_enhanced_code(enhanced);
  for (auto& l : lines) v.mutable_reply()->add_lines(l);
  return v;
}

std::string Problem(const v1::Verdict& v, const v1::Event& e = Inbound("RCPT")) {
  return std::string(VerdictProblemName(ValidateVerdict(v, e).problem));
}

TEST(VerdictValidationTest, AcceptsWhatTheContractAllows) {
  v1::Verdict bare;
  EXPECT_EQ(Problem(bare), "");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "5.7.1", {"no thanks"})), "");
  EXPECT_EQ(Problem(With(v1::ACTION_TEMPFAIL, 451, "4.7.1", {"greylisted", "try later"})), "");
  EXPECT_EQ(Problem(With(v1::ACTION_DROP_SESSION, 421, "4.7.0", {"bye"})), "");
  EXPECT_EQ(
      Problem(With(v1::ACTION_RESPOND, 252, "2.0.0", {"cannot verify\tbut ok"}), Inbound("VRFY")),
      "");
  EXPECT_EQ(Problem(With(v1::ACTION_RESPOND, 221), Inbound("QUIT")), "");
  EXPECT_EQ(Problem(With(v1::ACTION_RESPOND, 550, "", {"UTF-8 text: j\xc3\xb6rg"})), "");
  EXPECT_EQ(
      Problem(With(v1::ACTION_CONTINUE, 250, "2.0.0", {"queued by policy"}), ServerResponse(250)),
      "");
  EXPECT_EQ(Problem(With(v1::ACTION_CONTINUE, 354, "", {"go on"}), ServerResponse(354)), "");
  v1::Verdict empty_reply;  // an empty reply message is no reply
  empty_reply.mutable_reply();
  EXPECT_EQ(Problem(empty_reply), "");
  v1::Verdict reject;  // no reply: the defaults apply
  reject.set_action(v1::ACTION_REJECT);
  EXPECT_EQ(Problem(reject), "");
}

TEST(VerdictValidationTest, RefusesUnknownActions) {
  v1::Verdict v;
  v.set_action(static_cast<v1::Action>(42));
  EXPECT_EQ(Problem(v), "unknown_action");
}

TEST(VerdictValidationTest, RefusesReplyCodesOutsideTheActionsClass) {
  EXPECT_EQ(Problem(With(v1::ACTION_RESPOND, 354)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_RESPOND, 421)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_RESPOND, 221), Inbound("RCPT")), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 451)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 250)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_TEMPFAIL, 550)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_TEMPFAIL, 421)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_DROP_SESSION, 554)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_SKIP_RECIPIENT, 250)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_CONTINUE, 550)), "reply_class");  // not a SERVER_RESPONSE
  EXPECT_EQ(Problem(With(v1::ACTION_CONTINUE, 550), ServerResponse(250)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_CONTINUE, 354), ServerResponse(250)), "reply_class");
}

TEST(VerdictValidationTest, RefusesRespondWithoutReplyAndCodesOutOfRange) {
  v1::Verdict respond;
  respond.set_action(v1::ACTION_RESPOND);
  EXPECT_EQ(Problem(respond), "reply_missing");
  EXPECT_EQ(Problem(With(v1::ACTION_RESPOND, 99)), "reply_code");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 0, "", {"text but no code"})), "reply_code");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 600)), "reply_code");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 5500)), "reply_code");
}

TEST(VerdictValidationTest, RefusesBadEnhancedCodes) {
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "4.7.1")), "enhanced_code");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "5.7")), "enhanced_code");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "5.7.1 extra")), "enhanced_code");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "5.1000.1")), "enhanced_code");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "x.7.1")), "enhanced_code");
}

TEST(VerdictValidationTest, RefusesReplyTextThatCouldInjectProtocolLines) {
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "", {"no\r\n250 ok"})), "reply_text");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "", {"bare\nLF"})), "reply_text");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "", {std::string("nul\0x", 5)})), "reply_text");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "", {"bell\x07"})), "reply_text");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "", {std::string(501, 'a')})), "reply_text");
  EXPECT_EQ(Problem(With(v1::ACTION_REJECT, 550, "", std::vector<std::string>(17, "x"))),
            "reply_lines");
}

TEST(VerdictValidationTest, RefusesCommandRewritesWithLineBreaks) {
  v1::Verdict v;
  v.mutable_command()->set_append(" NOTIFY=NEVER\r\nRCPT TO:<x@example.org>");
  EXPECT_EQ(Problem(v), "command_text");
}

TEST(VerdictValidationTest, RefusesUnknownEnumValues) {
  v1::Verdict v;
  v.set_next_state(static_cast<v1::OutboundState>(9));
  EXPECT_EQ(Problem(v), "next_state");
  v1::Verdict w;
  w.set_cache_scope(static_cast<v1::CacheScope>(9));
  EXPECT_EQ(Problem(w), "cache_scope");
}

v1::Verdict Edit(const std::function<void(v1::MessageEdit*)>& fill) {
  v1::Verdict v;
  fill(v.add_edits());
  return v;
}

TEST(VerdictValidationTest, RefusesHeaderEditsThatBreakTheHeader) {
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_add_header()->set_name("X-Ok"); })), "");
  EXPECT_EQ(Problem(Edit([](auto* e) {
              e->mutable_add_header()->set_name("X-Folded");
              e->mutable_add_header()->set_value("a\r\n\tb");
            })),
            "");
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_add_header()->set_name("X Bad"); })),
            "header_name");
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_add_header()->set_name("X-A:b"); })),
            "header_name");
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_insert_header()->set_name(""); })),
            "header_name");
  EXPECT_EQ(Problem(Edit([](auto* e) {
              e->mutable_change_header()->set_name("Subject");
              e->mutable_change_header()->set_value("x\r\nBcc: victim@example.org");
            })),
            "header_value");
  EXPECT_EQ(Problem(Edit([](auto* e) {
              e->mutable_add_header()->set_name("X-A");
              e->mutable_add_header()->set_value("bare\nLF");
            })),
            "header_value");
}

TEST(VerdictValidationTest, RefusesEnvelopeEditsThatInjectEsmtpParameters) {
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_change_sender()->set_address(""); })), "");
  EXPECT_EQ(Problem(Edit(
                [](auto* e) { e->mutable_change_sender()->set_address("bounces@example.org"); })),
            "");
  EXPECT_EQ(Problem(Edit([](auto* e) {
              e->mutable_change_sender()->set_address("ok@example.org> AUTH=<x@example.org>");
            })),
            "address");
  EXPECT_EQ(Problem(Edit([](auto* e) {
              e->mutable_add_recipient()->set_address("a@example.org NOTIFY=NEVER");
            })),
            "address");
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_add_recipient()->set_address(""); })), "address");
  EXPECT_EQ(
      Problem(Edit([](auto* e) { e->mutable_delete_recipient()->set_address("<a@example.org>"); })),
      "address");
  EXPECT_EQ(Problem(Edit([](auto* e) {
              e->mutable_add_recipient()->set_address("a@example.org");
              e->mutable_add_recipient()->set_parameters("NOTIFY=NEVER ORCPT=rfc822;a@example.org");
            })),
            "");
  EXPECT_EQ(Problem(Edit([](auto* e) {
              e->mutable_add_recipient()->set_address("a@example.org");
              e->mutable_add_recipient()->set_parameters("NOTIFY=NEVER\r\nDATA");
            })),
            "esmtp_parameters");
  EXPECT_EQ(Problem(Edit([](auto* e) {
              e->mutable_change_sender()->set_address("a@example.org");
              e->mutable_change_sender()->set_parameters("SIZE=1 <x>");
            })),
            "esmtp_parameters");
}

TEST(VerdictValidationTest, PostfixVocabulary) {
  v1::Verdict defer;
  defer.set_action(v1::ACTION_DEFER_IF_PERMIT);
  EXPECT_EQ(Problem(defer), "");
  EXPECT_EQ(Problem(With(v1::ACTION_DEFER_IF_PERMIT, 450, "4.7.1", {"greylisted"})), "");
  EXPECT_EQ(Problem(With(v1::ACTION_DEFER_IF_REJECT, 550)), "reply_class");
  EXPECT_EQ(Problem(With(v1::ACTION_DEFER_IF_PERMIT, 421)), "reply_class");
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_warn()->set_text("look"); })), "");
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_info()->set_text("a\nb"); })), "edit_text");
  EXPECT_EQ(
      Problem(Edit([](auto* e) { e->mutable_filter()->set_transport("smtp:[127.0.0.1]:10025"); })),
      "");
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_filter()->set_transport("smtp [x]"); })),
            "edit_text");
  EXPECT_EQ(Problem(Edit([](auto* e) { e->mutable_redirect()->set_address("a@example.org"); })),
            "");
  EXPECT_EQ(
      Problem(Edit([](auto* e) { e->mutable_redirect()->set_address("a@example.org> X=1"); })),
      "address");
  v1::Verdict d;
  d.set_action(v1::ACTION_DEFER_IF_REJECT);
  EXPECT_EQ(v1::ReplyText(EnforcedReply(d)), "450 4.7.1");
}

TEST(VerdictValidationTest, RefusesEmptyEdits) {
  v1::Verdict v;
  v.add_edits();
  EXPECT_EQ(Problem(v), "unknown_edit");
}

TEST(VerdictValidationTest, CleanVerdictKeepsAQuarantineWithALineBreakInItsReason) {
  v1::Verdict v;
  v.add_edits()->mutable_quarantine()->set_reason("bad\r\nX-Injected: 1");
  EXPECT_EQ(Problem(v), "");
  CleanVerdict(&v);
  ASSERT_TRUE(v.edits(0).has_quarantine());
  EXPECT_EQ(v.edits(0).quarantine().reason(), "bad  X-Injected: 1");
}

TEST(SmtpTextTest, Mailboxes) {
  EXPECT_TRUE(v1::IsMailbox("user@example.org"));
  EXPECT_TRUE(v1::IsMailbox("first.last+tag@sub.example.org"));
  EXPECT_TRUE(v1::IsMailbox("\"odd \\\" local\"@example.org"));
  EXPECT_TRUE(v1::IsMailbox("user@[192.0.2.1]"));
  EXPECT_TRUE(
      v1::IsMailbox("j\xc3\xb6rg@b\xc3\xbc"
                    "cher.example"));
  EXPECT_TRUE(v1::IsMailbox("Postmaster"));
  EXPECT_FALSE(v1::IsMailbox("user"));
  EXPECT_FALSE(v1::IsMailbox("<user@example.org>"));
  EXPECT_FALSE(v1::IsMailbox("user@example.org>"));
  EXPECT_FALSE(v1::IsMailbox("us er@example.org"));
  EXPECT_FALSE(v1::IsMailbox("user@exa mple.org"));
  EXPECT_FALSE(v1::IsMailbox("user@-example.org"));
  EXPECT_FALSE(v1::IsMailbox("user..x@example.org"));
  EXPECT_FALSE(v1::IsMailbox("user@example.org\r\n"));
  EXPECT_FALSE(v1::IsMailbox("j\xf6rg@example.org"));  // Latin-1, not UTF-8
}

TEST(SmtpTextTest, Utf8SafeAndEscapeForLog) {
  EXPECT_EQ(v1::Utf8Safe("j\xf6rg"), "j?rg");
  EXPECT_EQ(v1::Utf8Safe("j\xc3\xb6rg"), "j\xc3\xb6rg");
  EXPECT_EQ(v1::Utf8Safe("\xed\xa0\x80"), "???");  // a surrogate
  EXPECT_EQ(v1::EscapeForLog("a\r\nb\x01\"c\\"), "a\\r\\nb\\x01\\\"c\\\\");
  EXPECT_EQ(v1::OneLine("a\r\nb\xff"), "a  b?");
}

}  // namespace
}  // namespace smtpbridge::dispatcher
