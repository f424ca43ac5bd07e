// Verdicts on outbound commands and on the next hop's replies, without I/O: what is sent, what
// the client gets, when the session is dropped.
#include "session_verdicts.h"

#include <gtest/gtest.h>

namespace smtpbridge::proxy {
namespace {

v1::Verdict WithAction(v1::Action action, int code = 0, const std::string& text = "") {
  v1::Verdict v;
  v.set_action(action);
  if (code) {
    v.mutable_reply()->set_code(code);
    if (!text.empty()) v.mutable_reply()->add_lines(text);
  }
  return v;
}

TEST(OutboundVerdict, ContinueSendsTheLineUnchanged) {
  std::string line = "MAIL FROM:<a@b.c>";
  const auto out =
      ApplyOutboundVerdict(WithAction(v1::ACTION_CONTINUE), "proxy.test", false, 512, &line);
  EXPECT_EQ(out.kind, OutboundVerdict::Kind::kSend);
  EXPECT_FALSE(out.rewrite_refused);
  EXPECT_EQ(line, "MAIL FROM:<a@b.c>");
}

TEST(OutboundVerdict, RewriteAndAppend) {
  v1::Verdict v = WithAction(v1::ACTION_CONTINUE);
  v.mutable_command()->set_append(" BODY=8BITMIME");
  std::string line = "MAIL FROM:<a@b.c>";
  EXPECT_EQ(ApplyOutboundVerdict(v, "proxy.test", false, 512, &line).kind,
            OutboundVerdict::Kind::kSend);
  EXPECT_EQ(line, "MAIL FROM:<a@b.c> BODY=8BITMIME");

  v.mutable_command()->set_set_command("RCPT TO:<other@b.c>");
  v.mutable_command()->clear_append();
  line = "RCPT TO:<a@b.c>";
  ApplyOutboundVerdict(v, "proxy.test", true, 512, &line);
  EXPECT_EQ(line, "RCPT TO:<other@b.c>");
}

TEST(OutboundVerdict, ARewriteThatIsNotOneLineIsRefused) {
  for (const std::string& bad : {std::string("RCPT TO:<x@y.z>\r\nDATA"),
                                 std::string("RCPT TO:<x@y.z>\0", 16), std::string(600, 'A')}) {
    v1::Verdict v = WithAction(v1::ACTION_CONTINUE);
    v.mutable_command()->set_set_command(bad);
    std::string line = "RCPT TO:<a@b.c>";
    const auto out = ApplyOutboundVerdict(v, "proxy.test", true, 512, &line);
    EXPECT_EQ(out.kind, OutboundVerdict::Kind::kSend);
    EXPECT_TRUE(out.rewrite_refused);
    EXPECT_EQ(line, "RCPT TO:<a@b.c>");
  }
}

TEST(OutboundVerdict, RejectTempfailDropSkip) {
  std::string line = "RCPT TO:<a@b.c>";
  auto out = ApplyOutboundVerdict(WithAction(v1::ACTION_REJECT), "proxy.test", true, 512, &line);
  EXPECT_EQ(out.kind, OutboundVerdict::Kind::kConsumed);
  EXPECT_EQ(out.client.Text(), "550 5.7.1 Rejected by policy");
  out = ApplyOutboundVerdict(WithAction(v1::ACTION_TEMPFAIL, 452, "later"), "proxy.test", true, 512,
                             &line);
  EXPECT_EQ(out.kind, OutboundVerdict::Kind::kConsumed);
  EXPECT_EQ(out.client.code, 452);
  out = ApplyOutboundVerdict(WithAction(v1::ACTION_DROP_SESSION), "proxy.test", true, 512, &line);
  EXPECT_EQ(out.kind, OutboundVerdict::Kind::kDropped);
  EXPECT_EQ(out.client.code, 421);
  EXPECT_NE(out.client.Text().find("proxy.test"), std::string::npos);
  EXPECT_EQ(
      ApplyOutboundVerdict(WithAction(v1::ACTION_SKIP_RECIPIENT), "proxy.test", true, 512, &line)
          .kind,
      OutboundVerdict::Kind::kSkipped);
  // Skip means nothing where there is no recipient to skip.
  EXPECT_EQ(
      ApplyOutboundVerdict(WithAction(v1::ACTION_SKIP_RECIPIENT), "proxy.test", false, 512, &line)
          .kind,
      OutboundVerdict::Kind::kSend);
}

SessionState::Relay From(int code) {
  return SessionState::Relay{MakeReply(code, "", "next hop"), MakeReply(code, "", "next hop"),
                             false};
}

TEST(ResponseVerdict, ContinueKeepsTheNextHopsReply) {
  auto relay = From(250);
  EXPECT_FALSE(ApplyResponseVerdict(WithAction(v1::ACTION_CONTINUE), "proxy.test", &relay));
  EXPECT_FALSE(relay.rewritten);
  EXPECT_EQ(relay.client.Text(), "250 next hop");
}

TEST(ResponseVerdict, AReplacementKeepsTheClass) {
  auto relay = From(250);
  EXPECT_FALSE(ApplyResponseVerdict(WithAction(v1::ACTION_CONTINUE, 250, "policy text"),
                                    "proxy.test", &relay));
  EXPECT_TRUE(relay.rewritten);
  EXPECT_EQ(relay.client.Text(), "250 2.0.0 policy text");

  relay = From(250);  // a 5xx replacement on CONTINUE does not turn an acceptance into a refusal
  ApplyResponseVerdict(WithAction(v1::ACTION_CONTINUE, 550, "no"), "proxy.test", &relay);
  EXPECT_FALSE(relay.rewritten);

  relay = From(354);  // a 354 only by a 354
  ApplyResponseVerdict(WithAction(v1::ACTION_CONTINUE, 334, "x"), "proxy.test", &relay);
  EXPECT_FALSE(relay.rewritten);
  ApplyResponseVerdict(WithAction(v1::ACTION_CONTINUE, 354, "go"), "proxy.test", &relay);
  EXPECT_TRUE(relay.rewritten);
  EXPECT_EQ(relay.client.code, 354);
}

TEST(ResponseVerdict, RejectReplacesAndDropCloses) {
  auto relay = From(250);
  EXPECT_FALSE(ApplyResponseVerdict(WithAction(v1::ACTION_REJECT), "proxy.test", &relay));
  EXPECT_TRUE(relay.rewritten);
  EXPECT_EQ(relay.client.code, 550);
  EXPECT_EQ(relay.upstream.code, 250);  // what the next hop holds is still known
  relay = From(250);
  EXPECT_TRUE(ApplyResponseVerdict(WithAction(v1::ACTION_DROP_SESSION), "proxy.test", &relay));
  EXPECT_EQ(relay.client.code, 421);
}

v1::Verdict WithQuarantine(v1::Action action) {
  v1::Verdict v = WithAction(action);
  v.add_edits()->mutable_quarantine()->set_reason("held");
  return v;
}

TEST(CarryEdits, IntoTheTransactionOrMailOrRefused) {
  SessionState::Transaction txn;
  std::vector<v1::MessageEdit> mail_edits;
  // Before MAIL: no message to apply to.
  v1::Verdict v = WithQuarantine(v1::ACTION_CONTINUE);
  auto c = CarryEdits(&v, false, false, &txn, &mail_edits);
  EXPECT_EQ(c.refused, 1);
  EXPECT_EQ(v.edits_size(), 0);
  // MAIL's own events: held for the transaction MAIL opens.
  v = WithQuarantine(v1::ACTION_CONTINUE);
  c = CarryEdits(&v, false, true, &txn, &mail_edits);
  EXPECT_EQ(c.carried, 1);
  EXPECT_EQ(mail_edits.size(), 1u);
  // In a transaction (a quarantine at RCPT, also on a skip).
  txn.open = true;
  v = WithQuarantine(v1::ACTION_SKIP_RECIPIENT);
  c = CarryEdits(&v, false, false, &txn, &mail_edits);
  EXPECT_EQ(c.carried, 1);
  EXPECT_EQ(txn.carried_edits.size(), 1u);
  // A rejecting verdict's edits and `_EOD`'s own are not carried.
  v = WithQuarantine(v1::ACTION_REJECT);
  c = CarryEdits(&v, false, false, &txn, &mail_edits);
  EXPECT_EQ(c.carried + c.refused, 0);
  EXPECT_EQ(v.edits_size(), 1);
  v = WithQuarantine(v1::ACTION_CONTINUE);
  c = CarryEdits(&v, true, false, &txn, &mail_edits);
  EXPECT_EQ(c.carried + c.refused, 0);
  EXPECT_EQ(v.edits_size(), 1);
  EXPECT_EQ(txn.carried_edits.size(), 1u);
}

}  // namespace
}  // namespace smtpbridge::proxy
