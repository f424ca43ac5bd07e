// Verdicts to milter replies, and the end-of-message edits.
#include "milter/verdict_mapping.h"

#include <gtest/gtest.h>

#include "unit/milter/fake_sink.h"

namespace smtpbridge::milter {
namespace {

using testing::MakeVerdict;

constexpr uint32_t kAll = 0x1ff;

TEST(VerdictMapping, StepReplies) {
  EXPECT_EQ(StepReply(v1::Verdict()), Reply(SimpleReply{'c'}));
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_CONTINUE)), Reply(SimpleReply{'c'}));
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_SKIP_RECIPIENT)), Reply(SimpleReply{'c'}));
  // The proto's defaults, with the same text on every host.
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_REJECT)),
            Reply(ReplyCode{"550 5.7.1 Rejected by policy"}));
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_TEMPFAIL)),
            Reply(ReplyCode{"451 4.7.1 Try again later"}));
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_REJECT, 554, "5.7.1", {"go away"})),
            Reply(ReplyCode{"554 5.7.1 go away"}));
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_TEMPFAIL, 450, "4.2.0", {"later"})),
            Reply(ReplyCode{"450 4.2.0 later"}));
  // A reply of the wrong class falls back to the default.
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_REJECT, 451, "4.7.1", {"x"})),
            Reply(ReplyCode{"550 5.7.1 Rejected by policy"}));
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_RESPOND, 550, "", {"no such user"})),
            Reply(ReplyCode{"550 5.7.1 no such user"}));
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_RESPOND, 250, "", {"ok"})), Reply(SimpleReply{'c'}));
  EXPECT_EQ(StepReply(MakeVerdict(v1::ACTION_DROP_SESSION)),
            Reply(ReplyCode{"421 4.7.0 Closing connection"}));
}

TEST(VerdictMapping, MultiLineAndEscapedReplyText) {
  auto v = MakeVerdict(v1::ACTION_REJECT, 550, "5.7.1", {"first", "100% sure\r\n", "last"});
  EXPECT_EQ(StepReply(v),
            Reply(ReplyCode{"550-5.7.1 first\r\n550-5.7.1 100%% sure\r\n550 5.7.1 last"}));
  // Postfix refuses a bare code as a malformed reply: the enhanced code always follows.
  v1::SmtpReply bare;
  bare.set_code(550);
  EXPECT_EQ(FormatReplyCode(bare), "550 5.7.1 Rejected by policy");
  bare.set_code(421);
  EXPECT_EQ(FormatReplyCode(bare), "421 4.7.0 Closing connection");
  bare.set_code(452);
  bare.add_lines("full");
  EXPECT_EQ(FormatReplyCode(bare), "452 4.7.1 full");
}

TEST(VerdictMapping, EndOfMessageEditsThenContinue) {
  v1::Verdict v;
  auto add = [&]() { return v.add_edits(); };
  auto* h = add()->mutable_add_header();
  h->set_name("X-Policy");
  h->set_value("checked");
  auto* ins = add()->mutable_insert_header();
  ins->set_name("X-Top");
  ins->set_value("1");
  auto* chg = add()->mutable_change_header();
  chg->set_name("Subject");
  chg->set_value("");
  add()->mutable_change_sender()->set_address("bounce@example.com");
  add()->mutable_add_recipient()->set_address("copy@example.com");
  auto* par = add()->mutable_add_recipient();
  par->set_address("p@example.com");
  par->set_parameters("NOTIFY=NEVER");
  add()->mutable_delete_recipient()->set_address("old@example.com");
  add()->mutable_quarantine()->set_reason("suspicious");
  add()->mutable_replace_body()->set_body("new\r\n");

  int skipped = -1;
  auto replies = EndOfMessageReplies(v, kAll, &skipped);
  EXPECT_EQ(skipped, 0);
  std::vector<Reply> want = {
      AddHeaderReply{"X-Policy", "checked"},
      InsertHeaderReply{0, "X-Top", "1"},
      ChangeHeaderReply{1, "Subject", ""},
      ChangeFromReply{"<bounce@example.com>", ""},
      AddRcptReply{"<copy@example.com>", std::nullopt},
      AddRcptReply{"<p@example.com>", "NOTIFY=NEVER"},
      DelRcptReply{"<old@example.com>"},
      QuarantineReply{"suspicious"},
      ReplaceBodyReply{"new\r\n"},
      SimpleReply{'c'},
  };
  EXPECT_EQ(replies, want);
}

TEST(VerdictMapping, EndOfMessageDropsEditsTheMtaDidNotGrant) {
  v1::Verdict v;
  v.add_edits()->mutable_add_header()->set_name("X-A");
  v.add_edits()->mutable_quarantine()->set_reason("q");
  int skipped = 0;
  auto replies = EndOfMessageReplies(v, action::kQuarantine, &skipped);
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(replies, (std::vector<Reply>{QuarantineReply{"q"}, SimpleReply{'c'}}));
}

// #14: envelope edits are RFC 5321 mailboxes before they reach smfi_chgfrom / smfi_addrcpt
// (no '>' or spaces smuggling ESMTP parameters), header edits valid fields; refused edits are
// counted; a quarantine reason with CR/LF still quarantines, on one line.
TEST(VerdictMapping, EndOfMessageRefusesInvalidEditsAndKeepsTheQuarantine) {
  v1::Verdict v;
  v.add_edits()->mutable_change_sender()->set_address("ok@example.org> AUTH=<x@example.org>");
  v.add_edits()->mutable_add_recipient()->set_address("a@example.org NOTIFY=NEVER");
  auto* par = v.add_edits()->mutable_add_recipient();
  par->set_address("b@example.org");
  par->set_parameters("NOTIFY=NEVER\r\nRSET");
  v.add_edits()->mutable_delete_recipient()->set_address("c@example.org>");
  auto* h = v.add_edits()->mutable_add_header();
  h->set_name("X-Evil");
  h->set_value("1\r\nBcc: victim@example.org");
  v.add_edits()->mutable_quarantine()->set_reason("spam\r\nX-Injected: 1");
  v.add_edits()->mutable_change_sender()->set_address("");  // the null sender is valid
  int skipped = -1;
  int refused = -1;
  auto replies = EndOfMessageReplies(v, kAll, &skipped, &refused);
  EXPECT_EQ(skipped, 0);
  EXPECT_EQ(refused, 5);
  EXPECT_EQ(replies, (std::vector<Reply>{QuarantineReply{"spam  X-Injected: 1"},
                                         ChangeFromReply{"<>", ""}, SimpleReply{'c'}}));
}

TEST(VerdictMapping, EndOfMessageDiscardAndReject) {
  v1::Verdict discard;
  discard.add_edits()->mutable_discard();
  EXPECT_EQ(EndOfMessageReplies(discard, kAll), std::vector<Reply>{SimpleReply{'d'}});

  auto reject = MakeVerdict(v1::ACTION_REJECT, 550, "5.7.1", {"spam"});
  reject.add_edits()->mutable_add_header()->set_name("X-Ignored");
  EXPECT_EQ(EndOfMessageReplies(reject, kAll), std::vector<Reply>{ReplyCode{"550 5.7.1 spam"}});
}

TEST(VerdictMapping, LargeReplacementBodyIsChunked) {
  v1::Verdict v;
  v.add_edits()->mutable_replace_body()->set_body(std::string(70000, 'x'));
  auto replies = EndOfMessageReplies(v, kAll);
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(std::get<ReplaceBodyReply>(replies[0]).data.size(), 65535u);
  EXPECT_EQ(std::get<ReplaceBodyReply>(replies[1]).data.size(), 70000u - 65535u);
}

}  // namespace
}  // namespace smtpbridge::milter
