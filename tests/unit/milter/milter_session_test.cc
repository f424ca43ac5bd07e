// The per-connection state machine with a fake sink: events built from milter steps, replies
// from verdicts, the transaction state across abort and reuse.
#include "milter/milter_session.h"

#include <gtest/gtest.h>

#include "unit/milter/fake_sink.h"

namespace smtpbridge::milter {
namespace {

using testing::FakeSink;
using testing::MakeVerdict;

constexpr OptNeg kPostfixOffer{6, 0x1ff, 0x1fffff};

class MilterSessionTest : public ::testing::Test {
 protected:
  MilterSession& Session() {
    if (!session_) session_ = std::make_unique<MilterSession>(sink_, options_, "s1");
    return *session_;
  }
  // Handles a command; evaluates through the fake sink when asked; returns all replies.
  std::vector<Reply> Send(Command c) {
    auto step = Session().Handle(std::move(c));
    EXPECT_TRUE(step.error.empty()) << step.error;
    auto replies = step.replies;
    if (step.event) {
      budgets_.push_back(step.budget);
      sink::Evaluation e;
      sink_.Evaluate(*step.event, step.budget, [&](sink::Evaluation r) { e = std::move(r); });
      for (auto& r : Session().Complete(e)) replies.push_back(r);
    }
    return replies;
  }
  void Connect() {
    Send(kPostfixOffer);
    Send(MacroDefs{'C',
                   {{"j", "mx.example"}, {"{daemon_addr}", "127.0.0.1"}, {"{daemon_port}", "25"}}});
    Send(ConnectInfo{"client.example", '4', 40000, "192.0.2.7"});
  }

  FakeSink sink_;
  SessionOptions options_;
  std::unique_ptr<MilterSession> session_;
  std::vector<std::chrono::microseconds> budgets_;
};

const std::vector<Reply> kContinue{SimpleReply{reply::kContinue}};

TEST_F(MilterSessionTest, FullTransactionBuildsEventsWithContext) {
  sink_.body_limit = 8;
  options_.command_budget = std::chrono::milliseconds(20);
  options_.eom_budget = std::chrono::milliseconds(200);
  auto neg = Send(kPostfixOffer);
  ASSERT_EQ(neg.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<OptNegReply>(neg[0]));
  Send(MacroDefs{'C',
                 {{"j", "mx.example"}, {"{daemon_addr}", "127.0.0.1"}, {"{daemon_port}", "25"}}});
  EXPECT_EQ(Send(ConnectInfo{"client.example", '4', 40000, "192.0.2.7"}), kContinue);
  Send(MacroDefs{'H', {{"{tls_version}", "TLSv1.3"}, {"{cipher}", "TLS_AES_256_GCM_SHA384"}}});
  EXPECT_EQ(Send(Helo{"client.example"}), kContinue);
  Send(MacroDefs{'M', {{"{auth_type}", "PLAIN"}, {"{auth_authen}", "alice"}, {"i", "4ABC"}}});
  EXPECT_EQ(Send(MailFrom{{"<a@example.com>", "SIZE=123", "body=8BITMIME"}}), kContinue);
  EXPECT_EQ(Send(RcptTo{{"<b@example.net>"}}), kContinue);
  EXPECT_EQ(Send(RcptTo{{"<c@example.net>", "NOTIFY=NEVER"}}), kContinue);
  EXPECT_EQ(Send(Data{}), kContinue);
  EXPECT_TRUE(Send(HeaderField{"Subject", "hi"}).empty());  // NR_HDR
  EXPECT_TRUE(Send(HeaderField{"From", "a@example.com"}).empty());
  EXPECT_TRUE(Send(BodyChunk{"0123456789"}).empty());  // NR_BODY
  EXPECT_EQ(Send(EndOfMessage{}), kContinue);

  auto events = sink_.events();
  ASSERT_EQ(events.size(), 7u);
  const auto& connect = events[0];
  EXPECT_EQ(connect.type(), v1::EVENT_TYPE_CONNECT);
  EXPECT_EQ(connect.session().session_id(), "s1");
  EXPECT_EQ(connect.session().host_kind(), v1::HOST_KIND_MILTER);
  EXPECT_EQ(connect.session().host_name(), "mx.example");
  EXPECT_EQ(connect.session().client().address(), "192.0.2.7");
  EXPECT_EQ(connect.session().client().port(), 40000u);
  EXPECT_EQ(connect.session().client().hostname(), "client.example");
  EXPECT_EQ(connect.session().server().port(), 25u);
  EXPECT_EQ(connect.session().attributes().at("j"), "mx.example");

  const auto& helo = events[1];
  EXPECT_EQ(helo.command().keyword(), "EHLO");
  EXPECT_EQ(helo.command().line(), "EHLO client.example");
  EXPECT_EQ(helo.session().helo_name(), "client.example");
  EXPECT_TRUE(helo.session().tls().active());
  EXPECT_EQ(helo.session().tls().protocol(), "TLSv1.3");

  const auto& mail = events[2];
  EXPECT_EQ(mail.command().keyword(), "MAIL");
  EXPECT_EQ(mail.command().argument(), "FROM:<a@example.com> SIZE=123 body=8BITMIME");
  EXPECT_EQ(mail.envelope().sender(), "a@example.com");
  EXPECT_TRUE(mail.envelope().has_sender());
  EXPECT_EQ(mail.envelope().mail_parameters().at("BODY"), "8BITMIME");
  EXPECT_EQ(mail.envelope().size(), 123u);
  EXPECT_TRUE(mail.session().auth().authenticated());
  EXPECT_EQ(mail.session().auth().username(), "alice");

  const auto& rcpt2 = events[4];
  EXPECT_EQ(rcpt2.command().line(), "RCPT TO:<c@example.net> NOTIFY=NEVER");
  EXPECT_EQ(rcpt2.envelope().recipient(), "c@example.net");
  EXPECT_EQ(rcpt2.envelope().recipient_index(), 1u);
  ASSERT_EQ(rcpt2.envelope().recipients_size(), 1);

  EXPECT_EQ(events[5].command().keyword(), "DATA");

  const auto& eod = events[6];
  EXPECT_EQ(eod.command().keyword(), "_EOD");
  ASSERT_EQ(eod.message().headers_size(), 2);
  EXPECT_EQ(eod.message().headers(0).name(), "Subject");
  EXPECT_EQ(eod.message().headers(0).value(), "hi");
  EXPECT_EQ(eod.message().body(), "01234567");
  EXPECT_TRUE(eod.message().body_truncated());
  EXPECT_EQ(eod.message().queue_id(), "4ABC");
  EXPECT_EQ(eod.envelope().recipients_size(), 2);
  EXPECT_GT(eod.message().size(), 10u);

  ASSERT_EQ(budgets_.size(), 7u);
  EXPECT_EQ(budgets_[0], std::chrono::milliseconds(20));
  EXPECT_EQ(budgets_[6], std::chrono::milliseconds(200));
}

TEST_F(MilterSessionTest, RejectedRecipientIsNotAddedToTheEnvelope) {
  sink_.decide = [](const v1::Event& e) {
    if (e.envelope().recipient() == "blocked@example.net")
      return MakeVerdict(v1::ACTION_REJECT, 550, "5.7.1", {"blocked"});
    return v1::Verdict();
  };
  Connect();
  Send(Helo{"h"});
  Send(MailFrom{{"<>"}});
  EXPECT_EQ(Send(RcptTo{{"<blocked@example.net>"}}),
            std::vector<Reply>{ReplyCode{"550 5.7.1 blocked"}});
  EXPECT_EQ(Send(RcptTo{{"<ok@example.net>"}}), kContinue);
  Send(EndOfMessage{});
  auto events = sink_.events();
  const auto& eod = events.back();
  EXPECT_EQ(eod.envelope().sender(), "");
  ASSERT_EQ(eod.envelope().recipients_size(), 1);
  EXPECT_EQ(eod.envelope().recipients(0), "ok@example.net");
}

TEST_F(MilterSessionTest, UnwantedStepsAreNotEvaluatedAndNoReplyStepsGetNoAnswer) {
  sink_.wanted = {"INBOUND_COMMAND:RCPT"};
  Connect();                             // NR_CONN: no reply
  EXPECT_TRUE(Send(Helo{"h"}).empty());  // NR_HELO
  EXPECT_TRUE(Send(MailFrom{{"<a@b>"}}).empty());
  EXPECT_EQ(Send(RcptTo{{"<x@y>"}}), kContinue);
  EXPECT_EQ(Send(EndOfMessage{}), kContinue);  // eom always answered, not evaluated
  auto events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].command().keyword(), "RCPT");
  EXPECT_EQ(events[0].session().client().address(), "192.0.2.7");  // context still there
  EXPECT_EQ(events[0].envelope().sender(), "a@b");
}

TEST_F(MilterSessionTest, EndOfMessageEditsAndQuarantine) {
  sink_.decide = [](const v1::Event& e) {
    v1::Verdict v;
    if (e.command().keyword() == "_EOD") {
      auto* h = v.add_edits()->mutable_add_header();
      h->set_name("X-Policy");
      h->set_value("checked");
      v.add_edits()->mutable_quarantine()->set_reason("held by policy");
    }
    return v;
  };
  Connect();
  Send(MailFrom{{"<a@b>"}});
  Send(RcptTo{{"<c@d>"}});
  auto replies = Send(EndOfMessage{});
  EXPECT_EQ(replies, (std::vector<Reply>{AddHeaderReply{"X-Policy", "checked"},
                                         QuarantineReply{"held by policy"}, SimpleReply{'c'}}));
  EXPECT_EQ(Session().stats().skipped_edits, 0u);
}

// A verdict before end of message cannot modify it yet (milters change messages at EOM alone):
// its edits wait there, even with no `_EOD` binding, and go before the `_EOD` verdict's own.
TEST_F(MilterSessionTest, EditsOfEarlierStepsAreCarriedToEndOfMessage) {
  sink_.wanted = {"INBOUND_COMMAND:RCPT"};
  sink_.decide = [](const v1::Event& e) {
    v1::Verdict v;
    if (e.envelope().recipient() == "held@d")
      v.add_edits()->mutable_quarantine()->set_reason("held at rcpt");
    return v;
  };
  Connect();
  Send(MailFrom{{"<a@b>"}});
  EXPECT_EQ(Send(RcptTo{{"<held@d>"}}), kContinue);
  EXPECT_EQ(Send(EndOfMessage{}),
            (std::vector<Reply>{QuarantineReply{"held at rcpt"}, SimpleReply{'c'}}));
  EXPECT_EQ(Session().stats().refused_edits, 0u);

  // The next message starts clean.
  Send(MailFrom{{"<a@b>"}});
  Send(RcptTo{{"<ok@d>"}});
  EXPECT_EQ(Send(EndOfMessage{}), kContinue);
}

TEST_F(MilterSessionTest, CarriedEditsGoBeforeTheEndOfMessageVerdictsAndAbortDropsThem) {
  sink_.decide = [](const v1::Event& e) {
    v1::Verdict v;
    auto* h = v.add_edits()->mutable_add_header();
    h->set_name("X-Step");
    h->set_value(e.command().keyword());
    if (e.command().keyword() != "RCPT" && e.command().keyword() != "_EOD") v.clear_edits();
    return v;
  };
  Connect();
  Send(MailFrom{{"<a@b>"}});
  Send(RcptTo{{"<c@d>"}});
  EXPECT_TRUE(Send(Abort{}).empty());  // the RCPT's header belonged to the aborted message
  Send(MailFrom{{"<a@b>"}});
  Send(RcptTo{{"<c@d>"}});
  EXPECT_EQ(Send(EndOfMessage{}),
            (std::vector<Reply>{AddHeaderReply{"X-Step", "RCPT"}, AddHeaderReply{"X-Step", "_EOD"},
                                SimpleReply{'c'}}));
}

TEST_F(MilterSessionTest, EditsBeforeMailHaveNoMessageAndAreRefused) {
  sink_.decide = [](const v1::Event& e) {
    v1::Verdict v;
    if (e.command().keyword() == "EHLO") v.add_edits()->mutable_quarantine()->set_reason("at helo");
    return v;
  };
  Connect();
  Send(Helo{"h"});
  EXPECT_EQ(Session().stats().refused_edits, 1u);
  Send(MailFrom{{"<a@b>"}});
  Send(RcptTo{{"<c@d>"}});
  EXPECT_EQ(Send(EndOfMessage{}), kContinue);
}

TEST_F(MilterSessionTest, AbortResetsTheTransactionAndQuitNcStartsANewSession) {
  Connect();
  Send(MailFrom{{"<a@b>"}});
  Send(RcptTo{{"<c@d>"}});
  EXPECT_TRUE(Send(Abort{}).empty());
  Send(MailFrom{{"<e@f>"}});
  Send(EndOfMessage{});
  auto events = sink_.events();
  EXPECT_EQ(events.back().envelope().recipients_size(), 0);
  EXPECT_EQ(events.back().envelope().sender(), "e@f");
  EXPECT_EQ(events.back().session().transaction_count(), 0u);

  EXPECT_TRUE(Send(QuitNewConnection{}).empty());
  Send(ConnectInfo{"other.example", '6', 25, "2001:db8::2"});
  events = sink_.events();
  EXPECT_EQ(events.back().session().session_id(), "s1.1");
  EXPECT_EQ(events.back().session().client().address(), "2001:db8::2");
  EXPECT_EQ(events.back().session().attributes().count("j"), 0u);
}

TEST_F(MilterSessionTest, TransactionCountGrowsPerMessage) {
  Connect();
  Send(MailFrom{{"<a@b>"}});
  Send(EndOfMessage{});
  Send(MailFrom{{"<a@b>"}});
  Send(EndOfMessage{});
  EXPECT_EQ(sink_.events().back().session().transaction_count(), 1u);
}

TEST_F(MilterSessionTest, UnknownCommandUsesItsVerb) {
  sink_.decide = [](const v1::Event&) {
    return MakeVerdict(v1::ACTION_RESPOND, 502, "5.5.2", {"nope"});
  };
  Connect();
  sink_.decide = [](const v1::Event& e) {
    return e.command().keyword() == "XFOO" ? MakeVerdict(v1::ACTION_RESPOND, 502, "5.5.2", {"nope"})
                                           : v1::Verdict();
  };
  EXPECT_EQ(Send(UnknownCommand{"xfoo bar baz"}), std::vector<Reply>{ReplyCode{"502 5.5.2 nope"}});
  EXPECT_EQ(sink_.events().back().command().argument(), "bar baz");
}

// #14: 8-bit bytes from the MTA (MAIL FROM without SMTPUTF8, macros, headers) are made UTF-8
// before they enter string fields, so the dispatcher can always parse the event.
TEST_F(MilterSessionTest, EightBitBytesBecomeValidUtf8) {
  Send(kPostfixOffer);
  Send(MacroDefs{'C', {{"{cert_subject}", "CN=M\xfcller"}}});
  Send(ConnectInfo{"client.example", '4', 40000, "192.0.2.7"});
  Send(MailFrom{{"<j\xf6rg@example.org>"}});
  Send(RcptTo{{"<b\xe4r@example.net>"}});
  Send(Data{});
  Send(HeaderField{"Subject",
                   "Gr\xfc\xdf"
                   "e"});
  Send(EndOfMessage{});
  const auto events = sink_.events();
  ASSERT_GE(events.size(), 4u);
  const auto& eod = events.back();
  EXPECT_EQ(eod.envelope().sender(), "j?rg@example.org");
  EXPECT_EQ(eod.session().attributes().at("{cert_subject}"), "CN=M?ller");
  ASSERT_EQ(eod.message().headers_size(), 1);
  EXPECT_EQ(eod.message().headers(0).value(), "Gr??e");
  for (const auto& e : events) {
    std::string wire;
    ASSERT_TRUE(e.SerializeToString(&wire));
    v1::Event parsed;
    EXPECT_TRUE(parsed.ParseFromString(wire)) << e.command().line();
  }
}

TEST_F(MilterSessionTest, ProtocolViolationsClose) {
  auto step = Session().Handle(Helo{"early"});
  EXPECT_TRUE(step.close);
  EXPECT_NE(step.error.find("OPTNEG"), std::string::npos);

  MilterSession old_mta(sink_, options_, "s2");
  step = old_mta.Handle(OptNeg{1, 0, 0});
  EXPECT_TRUE(step.close);
  EXPECT_FALSE(step.error.empty());
}

TEST_F(MilterSessionTest, QuitCloses) {
  Connect();
  auto step = Session().Handle(Quit{});
  EXPECT_TRUE(step.close);
  EXPECT_TRUE(step.error.empty());
  EXPECT_TRUE(step.replies.empty());
}

TEST(StripAngleBrackets, Forms) {
  EXPECT_EQ(StripAngleBrackets("<a@b>"), "a@b");
  EXPECT_EQ(StripAngleBrackets(" <a@b> "), "a@b");
  EXPECT_EQ(StripAngleBrackets("<>"), "");
  EXPECT_EQ(StripAngleBrackets("a@b"), "a@b");
}

}  // namespace
}  // namespace smtpbridge::milter
