// The proxy's session state machine over real loopback sockets: a real client socket, the
// in-process proxy, a capture next hop and a scripted sink. Events fire in order with the right
// context, and each verdict kind is applied.
#include <gtest/gtest.h>

#include <optional>

#include "proxy_harness.h"
#include "smtp_test_client.h"

namespace smtpbridge::testing {
namespace {

using v1::EventType;

// Runs EHLO and MAIL FROM:<sender>; expects 2xx.
void Begin(SmtpTestClient& c, const std::string& sender = "alice@example.com") {
  ASSERT_EQ(c.ReadReply().code, 220);
  ASSERT_EQ(c.Command("EHLO client.example").code, 250);
  ASSERT_EQ(c.Command("MAIL FROM:<" + sender + ">").code, 250);
}

TestReply SendMessage(SmtpTestClient& c, const std::string& body) {
  TestReply r = c.Command("DATA");
  if (r.code != 354) return r;
  c.SendRaw(body + ".\r\n");
  return c.ReadReply();
}

const v1::Event* Find(const std::vector<v1::Event>& events, EventType type,
                      const std::string& keyword) {
  for (const auto& e : events) {
    if (e.type() == type && e.command().keyword() == keyword) return &e;
  }
  return nullptr;
}

TEST(ProxySession, RelaysAMessageAndFiresAllEventsInOrder) {
  ProxyHarness h;
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  const std::string body = "Subject: hi\r\n\r\n..stuffed\r\nline\r\n";
  ASSERT_EQ(SendMessage(c, body).code, 250);
  EXPECT_EQ(c.Command("QUIT").code, 221);
  ASSERT_TRUE(h.next_hop().WaitForQuitOrClose(1));

  const std::vector<std::string> expected = {"CONNECT:",
                                             "SERVER_RESPONSE:",
                                             "INBOUND_COMMAND:EHLO",
                                             "SESSION_START:EHLO",
                                             "SERVER_RESPONSE:EHLO",
                                             "INBOUND_COMMAND:MAIL",
                                             "MESSAGE_START:MAIL",
                                             "SERVER_RESPONSE:MAIL",
                                             "INBOUND_COMMAND:RCPT",
                                             "PER_RECIPIENT:RCPT",
                                             "SERVER_RESPONSE:RCPT",
                                             "INBOUND_COMMAND:DATA",
                                             "INBOUND_COMMAND:_EOD",
                                             "BEFORE_DATA:DATA",
                                             "SERVER_RESPONSE:DATA",
                                             "SERVER_RESPONSE:_EOD",
                                             "INBOUND_COMMAND:QUIT",
                                             "SESSION_END:QUIT",
                                             "SERVER_RESPONSE:QUIT"};
  EXPECT_TRUE(h.sink().WaitForEvents(expected.size()));
  EXPECT_EQ(h.sink().trace(), expected);

  const auto events = h.sink().events();
  const std::string session_id = events.front().session().session_id();
  for (const auto& e : events) {
    EXPECT_EQ(e.session().session_id(), session_id);
    EXPECT_EQ(e.session().host_kind(), v1::HOST_KIND_SMTP_PROXY);
    EXPECT_EQ(e.session().client().address(), "127.0.0.1");
    EXPECT_GT(e.budget().nanos() + e.budget().seconds(), 0);
  }
  // #14: MAIL's own events carry its path, as on the policy host and in test-event.
  for (const auto type : {v1::EVENT_TYPE_INBOUND_COMMAND, v1::EVENT_TYPE_MESSAGE_START}) {
    const v1::Event* mail = Find(events, type, "MAIL");
    ASSERT_NE(mail, nullptr);
    EXPECT_TRUE(mail->envelope().has_sender()) << v1::EventType_Name(type);
    EXPECT_EQ(mail->envelope().sender(), "alice@example.com") << v1::EventType_Name(type);
  }
  const v1::Event* rcpt = Find(events, v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT");
  ASSERT_NE(rcpt, nullptr);
  EXPECT_EQ(rcpt->session().helo_name(), "client.example");
  EXPECT_TRUE(rcpt->session().esmtp());
  EXPECT_EQ(rcpt->envelope().sender(), "alice@example.com");
  EXPECT_EQ(rcpt->envelope().recipient(), "bob@example.net");
  EXPECT_EQ(rcpt->envelope().recipient_index(), 0u);
  EXPECT_EQ(rcpt->response().code(), 250u);
  const v1::Event* per_rcpt = Find(events, v1::EVENT_TYPE_PER_RECIPIENT, "RCPT");
  ASSERT_NE(per_rcpt, nullptr);
  EXPECT_EQ(per_rcpt->command().line(), "RCPT TO:<bob@example.net>");
  const v1::Event* rcpt_reply = Find(events, v1::EVENT_TYPE_SERVER_RESPONSE, "RCPT");
  ASSERT_NE(rcpt_reply, nullptr);
  EXPECT_EQ(rcpt_reply->envelope().recipient(), "bob@example.net");
  EXPECT_EQ(rcpt_reply->command().argument(), "TO:<bob@example.net>");
  const v1::Event* eod = Find(events, v1::EVENT_TYPE_INBOUND_COMMAND, "_EOD");
  ASSERT_NE(eod, nullptr);
  ASSERT_EQ(eod->message().headers_size(), 1);
  EXPECT_EQ(eod->message().headers(0).name(), "Subject");
  EXPECT_EQ(eod->message().body(), ".stuffed\r\nline\r\n");
  EXPECT_EQ(eod->envelope().recipients_size(), 1);
  const v1::Event* final_reply = Find(events, v1::EVENT_TYPE_SERVER_RESPONSE, "_EOD");
  ASSERT_NE(final_reply, nullptr);
  EXPECT_EQ(final_reply->response().code(), 250u);

  const auto messages = h.next_hop().messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].data, body);  // exact bytes, dot-stuffing included
  EXPECT_EQ(messages[0].sender, "alice@example.com");
  EXPECT_EQ(messages[0].recipients, std::vector<std::string>{"bob@example.net"});
}

TEST(ProxySession, SkipsEventsNobodyWants) {
  ProxyHarness h;
  h.sink().WantOnly({{v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT"}});
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: x\r\n\r\nbody\r\n").code, 250);
  EXPECT_EQ(h.sink().trace(), std::vector<std::string>{"INBOUND_COMMAND:RCPT"});
  EXPECT_EQ(h.next_hop().messages().size(), 1u);
}

TEST(ProxySession, InboundRejectKeepsTheCommandFromTheNextHop) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    if (e.type() == v1::EVENT_TYPE_INBOUND_COMMAND &&
        e.envelope().recipient() == "blocked@example.net") {
      return Reply(v1::ACTION_REJECT, 550, "5.7.1", "blocked by policy");
    }
    return Continue();
  });
  SmtpTestClient c(h.port());
  Begin(c);
  TestReply r = c.Command("RCPT TO:<blocked@example.net>");
  EXPECT_EQ(r.code, 550);
  EXPECT_NE(r.text.find("blocked by policy"), std::string::npos);
  EXPECT_EQ(c.Command("RCPT TO:<ok@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: x\r\n\r\nbody\r\n").code, 250);
  for (const auto& line : h.next_hop().commands())
    EXPECT_EQ(line.find("blocked"), std::string::npos) << line;
  ASSERT_EQ(h.next_hop().messages().size(), 1u);
  EXPECT_EQ(h.next_hop().messages()[0].recipients, std::vector<std::string>{"ok@example.net"});
}

TEST(ProxySession, RespondTempfailAndDefaults) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    if (e.type() != v1::EVENT_TYPE_INBOUND_COMMAND) return Continue();
    if (e.command().keyword() == "XPOLICY")
      return Reply(v1::ACTION_RESPOND, 250, "2.0.0", "policy says hi");
    if (e.command().keyword() == "VRFY") {
      v1::Verdict v;
      v.set_action(v1::ACTION_REJECT);  // no reply: the default 550 5.7.1
      return v;
    }
    if (e.command().keyword() == "MAIL" && e.envelope().sender().empty()) {
      v1::Verdict v;
      v.set_action(v1::ACTION_TEMPFAIL);
      return v;
    }
    return Continue();
  });
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);
  ASSERT_EQ(c.Command("EHLO client.example").code, 250);
  TestReply r = c.Command("XPOLICY hello");
  EXPECT_EQ(r.code, 250);
  EXPECT_NE(r.text.find("policy says hi"), std::string::npos);
  r = c.Command("VRFY bob");
  EXPECT_EQ(r.code, 550);
  EXPECT_NE(r.text.find("5.7.1"), std::string::npos);
  r = c.Command("MAIL FROM:<>");
  EXPECT_EQ(r.code, 451);
  EXPECT_NE(r.text.find("4.7.1"), std::string::npos);
  for (const auto& line : h.next_hop().commands()) EXPECT_NE(line.rfind("MAIL", 0), 0u) << line;
}

TEST(ProxySession, DropSessionSays421AndCloses) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    if (e.type() == v1::EVENT_TYPE_INBOUND_COMMAND && e.command().keyword() == "MAIL") {
      v1::Verdict v;
      v.set_action(v1::ACTION_DROP_SESSION);
      return v;
    }
    return Continue();
  });
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);
  ASSERT_EQ(c.Command("EHLO client.example").code, 250);
  EXPECT_EQ(c.Command("MAIL FROM:<a@example.com>").code, 421);
  EXPECT_TRUE(c.WaitClosed());
  ASSERT_TRUE(h.next_hop().WaitForQuitOrClose(1));
  const auto commands = h.next_hop().commands();
  EXPECT_EQ(commands.back(), "QUIT");
  for (const auto& line : commands) EXPECT_NE(line.rfind("MAIL", 0), 0u);
}

// #14 (docs/verdicts.md): RESPOND 221 to QUIT gives the client the policy's text and ends the
// session, as the proxy's own 221 does.
TEST(ProxySession, Respond221ToQuitCloses) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    if (e.type() == v1::EVENT_TYPE_INBOUND_COMMAND && e.command().keyword() == "QUIT") {
      return Reply(v1::ACTION_RESPOND, 221, "2.0.0", "see you");
    }
    return Continue();
  });
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);
  ASSERT_EQ(c.Command("EHLO client.example").code, 250);
  const TestReply r = c.Command("QUIT");
  EXPECT_EQ(r.code, 221);
  EXPECT_NE(r.text.find("see you"), std::string::npos);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ProxySession, ConnectRejectNeverContactsTheNextHop) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    if (e.type() == v1::EVENT_TYPE_CONNECT)
      return Reply(v1::ACTION_REJECT, 554, "5.7.1", "go away");
    return Continue();
  });
  SmtpTestClient c(h.port());
  TestReply r = c.ReadReply();
  EXPECT_EQ(r.code, 554);
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(h.next_hop().sessions(), 0);
}

TEST(ProxySession, OutboundRewriteAndAppend) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.type() == v1::EVENT_TYPE_MESSAGE_START) v.mutable_command()->set_append(" BODY=8BITMIME");
    if (e.type() == v1::EVENT_TYPE_SESSION_START)
      v.mutable_command()->set_set_command("EHLO rewritten.example");
    if (e.type() == v1::EVENT_TYPE_PER_RECIPIENT)
      v.mutable_command()->set_append("\r\nRSET");  // injection: refused
    return v;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  const auto commands = h.next_hop().commands();
  ASSERT_GE(commands.size(), 3u);
  EXPECT_EQ(commands[0], "EHLO rewritten.example");
  EXPECT_EQ(commands[1], "MAIL FROM:<alice@example.com> BODY=8BITMIME");
  EXPECT_EQ(commands[2], "RCPT TO:<bob@example.net>");
}

TEST(ProxySession, SkipRecipientAcknowledgesButDoesNotRelay) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.type() == v1::EVENT_TYPE_PER_RECIPIENT &&
        e.envelope().recipient() == "skip@example.net") {
      v.set_action(v1::ACTION_SKIP_RECIPIENT);
    }
    return v;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  EXPECT_EQ(c.Command("RCPT TO:<skip@example.net>").code, 250);
  EXPECT_EQ(c.Command("RCPT TO:<keep@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: x\r\n\r\nbody\r\n").code, 250);
  const auto messages = h.next_hop().messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].recipients, std::vector<std::string>{"keep@example.net"});
  // The kept recipient's PER_RECIPIENT event counts only the recipients actually relayed: the
  // skipped one is not in its envelope, so keep@ is recipient 0.
  std::optional<v1::Event> per;
  for (const auto& e : h.sink().events()) {
    if (e.type() == v1::EVENT_TYPE_PER_RECIPIENT && e.envelope().recipient() == "keep@example.net")
      per = e;
  }
  ASSERT_TRUE(per.has_value()) << "no PER_RECIPIENT event for keep@example.net";
  EXPECT_EQ(per->envelope().recipient_index(), 0u);
  ASSERT_EQ(per->envelope().recipients_size(), 1);
  EXPECT_EQ(per->envelope().recipients(0), "keep@example.net");
}

TEST(ProxySession, ServerResponseRewritesTheRelayedReply) {
  ProxyHarness h;
  h.next_hop().set_script([](const std::string& line) -> std::optional<std::string> {
    if (line.find("unknown@") != std::string::npos)
      return "550 5.1.1 <unknown@example.net>: User unknown in table";
    return std::nullopt;
  });
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.type() == v1::EVENT_TYPE_SERVER_RESPONSE && e.response().code() == 550) {
      v.mutable_reply()->set_code(550);
      v.mutable_reply()->set_enhanced_code("5.1.1");
      v.mutable_reply()->add_lines("Recipient address rejected");
    }
    return v;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  TestReply r = c.Command("RCPT TO:<unknown@example.net>");
  EXPECT_EQ(r.code, 550);
  EXPECT_EQ(r.text, "550 5.1.1 Recipient address rejected");
}

TEST(ProxySession, NextStateSessionEndClosesAfterTheReply) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.type() == v1::EVENT_TYPE_SERVER_RESPONSE && e.command().keyword() == "MAIL") {
      v.set_next_state(v1::OUTBOUND_STATE_SESSION_END);
    }
    return v;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  EXPECT_EQ(c.ReadReply().code, 421);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ProxySession, NextStateDataSkipsFurtherRecipients) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.type() == v1::EVENT_TYPE_SERVER_RESPONSE && e.command().keyword() == "RCPT") {
      v.set_next_state(v1::OUTBOUND_STATE_DATA_OR_BDAT);
    }
    return v;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  EXPECT_EQ(c.Command("RCPT TO:<one@example.net>").code, 250);
  EXPECT_EQ(c.Command("RCPT TO:<two@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: x\r\n\r\nbody\r\n").code, 250);
  ASSERT_EQ(h.next_hop().messages().size(), 1u);
  EXPECT_EQ(h.next_hop().messages()[0].recipients, std::vector<std::string>{"one@example.net"});
}

TEST(ProxySession, EodEditsHeadersAndEnvelope) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.type() == v1::EVENT_TYPE_INBOUND_COMMAND && e.command().keyword() == "_EOD") {
      auto* add = v.add_edits()->mutable_add_header();
      add->set_name("X-Policy");
      add->set_value("checked");
      auto* change = v.add_edits()->mutable_change_header();
      change->set_name("Subject");
      change->set_value("[tagged] hi");
      v.add_edits()->mutable_change_sender()->set_address("bounces@example.com");
      v.add_edits()->mutable_add_recipient()->set_address("archive@example.com");
      v.add_edits()->mutable_delete_recipient()->set_address("bob@example.net");
      v.add_edits()->mutable_add_header()->set_name("Bad Name");  // refused, the rest applies
    }
    return v;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  ASSERT_EQ(c.Command("RCPT TO:<carol@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: hi\r\n\r\nbody\r\n").code, 250);
  const auto messages = h.next_hop().messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].sender, "bounces@example.com");
  EXPECT_EQ(messages[0].recipients,
            (std::vector<std::string>{"carol@example.net", "archive@example.com"}));
  EXPECT_EQ(messages[0].data, "Subject: [tagged] hi\r\nX-Policy: checked\r\n\r\nbody\r\n");
}

// #14: an envelope edit whose address ends the path early ("x> AUTH=<y>") or adds parameters is
// refused and counted, never sent to the next hop; a quarantine reason with CR/LF still marks the
// message (on one line).
TEST(ProxySession, EodRefusesEnvelopeEditsThatInjectParametersAndKeepsTheQuarantine) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.type() == v1::EVENT_TYPE_INBOUND_COMMAND && e.command().keyword() == "_EOD") {
      v.add_edits()->mutable_change_sender()->set_address("ok@example.org> AUTH=<x@example.org>");
      v.add_edits()->mutable_add_recipient()->set_address("extra@example.org> NOTIFY=NEVER");
      auto* par = v.add_edits()->mutable_add_recipient();
      par->set_address("extra2@example.org");
      par->set_parameters("<x@example.org>");
      v.add_edits()->mutable_quarantine()->set_reason("bad\r\nX-Injected: 1");
    }
    return v;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: hi\r\n\r\nbody\r\n").code, 250);
  const auto messages = h.next_hop().messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].recipients, std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(messages[0].data,
            "Subject: hi\r\nX-Smtpbridge-Quarantine: bad  X-Injected: 1\r\n\r\nbody\r\n");
  for (const auto& line : h.next_hop().commands()) {
    EXPECT_EQ(line.find("AUTH="), std::string::npos) << line;
    EXPECT_EQ(line.find("NOTIFY="), std::string::npos) << line;
  }
  EXPECT_EQ(h.server().metrics().edits_refused.Value(), 3);
}

// A quarantine (or any message edit) on a RCPT or MAIL verdict marks the message at end of data,
// with or without an `_EOD` binding; one before MAIL has no message and is refused, counted.
TEST(ProxySession, EditsOfEarlierEventsAreCarriedToEndOfData) {
  ProxyHarness h;
  h.sink().WantOnly({{v1::EVENT_TYPE_INBOUND_COMMAND, "EHLO"},
                     {v1::EVENT_TYPE_INBOUND_COMMAND, "MAIL"},
                     {v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT"}});
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.command().keyword() == "EHLO") v.add_edits()->mutable_quarantine()->set_reason("at ehlo");
    if (e.command().keyword() == "MAIL") {
      auto* header = v.add_edits()->mutable_add_header();
      header->set_name("X-Mail");
      header->set_value("seen");
    }
    if (e.envelope().recipient() == "held@example.net")
      v.add_edits()->mutable_quarantine()->set_reason("held at rcpt");
    return v;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<held@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: hi\r\n\r\nbody\r\n").code, 250);
  // The next message carries only its own transaction's edits.
  ASSERT_EQ(c.Command("MAIL FROM:<a@example.com>").code, 250);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: two\r\n\r\nbody\r\n").code, 250);
  const auto messages = h.next_hop().messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].data,
            "Subject: hi\r\nX-Mail: seen\r\nX-Smtpbridge-Quarantine: held at rcpt\r\n\r\nbody\r\n");
  EXPECT_EQ(messages[1].data, "Subject: two\r\nX-Mail: seen\r\n\r\nbody\r\n");
  EXPECT_EQ(h.server().metrics().edits_refused.Value(), 1);  // the EHLO's quarantine
}

TEST(ProxySession, EodDiscardAndReject) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.type() == v1::EVENT_TYPE_INBOUND_COMMAND && e.command().keyword() == "_EOD") {
      bool spam = false;
      for (const auto& hd : e.message().headers()) spam = spam || hd.value() == "spam";
      if (spam) return Reply(v1::ACTION_REJECT, 554, "5.7.1", "spam");
      v.add_edits()->mutable_discard();
    }
    return v;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  EXPECT_EQ(SendMessage(c, "Subject: spam\r\n\r\nbody\r\n").code, 554);
  ASSERT_EQ(c.Command("MAIL FROM:<a@example.com>").code, 250);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  EXPECT_EQ(SendMessage(c, "Subject: fine\r\n\r\nbody\r\n").code, 250);  // discarded
  EXPECT_EQ(c.Command("QUIT").code, 221);
  ASSERT_TRUE(h.next_hop().WaitForQuitOrClose(1));
  EXPECT_TRUE(h.next_hop().messages().empty());
  for (const auto& line : h.next_hop().commands()) EXPECT_NE(line, "DATA");
}

TEST(ProxySession, BodyLimitBoundsTheEodBody) {
  ProxyHarness h;
  h.sink().set_body_limit(4);
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: x\r\n\r\n0123456789\r\n").code, 250);
  const v1::Event* eod = nullptr;
  const auto events = h.sink().events();
  eod = Find(events, v1::EVENT_TYPE_INBOUND_COMMAND, "_EOD");
  ASSERT_NE(eod, nullptr);
  EXPECT_EQ(eod->message().body(), "0123");
  EXPECT_TRUE(eod->message().body_truncated());
  EXPECT_EQ(eod->message().size(), 26u);
}

TEST(ProxySession, ASinkThatNeverAnswersDoesNotStallTheDialogue) {
  ProxyHarness h;
  h.sink().set_never_answer(true);
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  ASSERT_EQ(SendMessage(c, "Subject: x\r\n\r\nbody\r\n").code, 250);
  EXPECT_EQ(h.next_hop().messages().size(), 1u);
  EXPECT_GT(h.server().metrics().sink_overdue.Value(), 5);
}

TEST(ProxySession, SlowSinkAnswersFromAnotherThread) {
  ProxyHarness h;
  h.sink().set_delay(std::chrono::milliseconds(2));
  h.sink().set_script([](const v1::Event& e) {
    if (e.type() == v1::EVENT_TYPE_INBOUND_COMMAND && e.command().keyword() == "RCPT") {
      return Reply(v1::ACTION_TEMPFAIL, 450, "4.2.0", "greylisted");
    }
    return Continue();
  });
  SmtpTestClient c(h.port());
  Begin(c);
  EXPECT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 450);
}

TEST(ProxySession, NextHopRefusalsReachTheClient) {
  ProxyHarness h;
  h.next_hop().set_data_reply("554 5.7.1 content rejected");
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  TestReply r = SendMessage(c, "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(r.code, 554);
  h.next_hop().set_data_reply("451 4.3.0 try later");
  ASSERT_EQ(c.Command("MAIL FROM:<a@example.com>").code, 250);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  EXPECT_EQ(SendMessage(c, "Subject: x\r\n\r\nbody\r\n").code, 451);
  EXPECT_TRUE(h.next_hop().messages().empty());
}

TEST(ProxySession, NextHopDisconnectAtEndOfDataGivesA4xx) {
  ProxyHarness h;
  h.next_hop().set_data_reply("DISCONNECT");
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  TestReply r = SendMessage(c, "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(r.klass(), 4);
  EXPECT_TRUE(c.WaitClosed());
}

// The envelope changed at end of data and the next hop is lost while it is replayed: the same
// path as any next-hop failure at end of data (counted, the retryable 421), no message.
TEST(ProxySession, NextHopLostWhileReplayingTheEnvelopeIsANextHopFailure) {
  ProxyHarness h;
  h.sink().set_script([](const v1::Event& e) {
    v1::Verdict v;
    if (e.type() == v1::EVENT_TYPE_INBOUND_COMMAND && e.command().keyword() == "_EOD") {
      v.add_edits()->mutable_add_recipient()->set_address("archive@example.com");
    }
    return v;
  });
  h.next_hop().set_script([](const std::string& line) -> std::optional<std::string> {
    if (line == "RSET") return "DISCONNECT";
    return std::nullopt;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  TestReply r = SendMessage(c, "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(r.code, 421);
  EXPECT_NE(r.text.find("next hop connection lost, try again later"), std::string::npos) << r.text;
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(h.server().metrics().next_hop_failures.Value(), 1);
  EXPECT_TRUE(h.next_hop().messages().empty());
}

// A next hop that refuses RSET is a next-hop failure like any other: counted, the 421.
TEST(ProxySession, NextHopRefusingRsetIsANextHopFailure) {
  ProxyHarness h;
  h.next_hop().set_script([](const std::string& line) -> std::optional<std::string> {
    if (line == "RSET") return "554 5.5.1 no reset today";
    return std::nullopt;
  });
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  TestReply r = c.Command("RSET");
  EXPECT_EQ(r.code, 421);
  EXPECT_NE(r.text.find("next hop connection lost"), std::string::npos) << r.text;
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(h.server().metrics().next_hop_failures.Value(), 1);
}

TEST(ProxySession, UnreachableNextHopGives421) {
  proxy::ProxyConfig config = ProxyHarness::TestConfig();
  CaptureSmtpServer dead;
  const int port = dead.Start();
  dead.Stop();  // nothing listens there now
  config.next_hop = "127.0.0.1:" + std::to_string(port);
  ProxyHarness h(config, false);
  SmtpTestClient c(h.port());
  TestReply r = c.ReadReply();
  EXPECT_EQ(r.code, 421);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ProxySession, NextHopThatDoesNotGreetGives421) {
  ProxyHarness h;
  h.next_hop().set_greeting("554 5.3.2 not now");
  SmtpTestClient c(h.port());
  EXPECT_EQ(c.ReadReply().code, 421);
}

TEST(ProxySession, PipelinedGroupGetsAllRepliesInOrder) {
  ProxyHarness h;
  SmtpTestClient c(h.port());
  ASSERT_EQ(c.ReadReply().code, 220);
  ASSERT_EQ(c.Command("EHLO client.example").code, 250);
  c.SendRaw(
      "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<bad address>\r\nDATA\r\n");
  EXPECT_EQ(c.ReadReply().code, 250);
  EXPECT_EQ(c.ReadReply().code, 250);
  EXPECT_EQ(c.ReadReply().code, 501);
  EXPECT_EQ(c.ReadReply().code, 354);
  c.SendRaw("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(c.ReadReply().code, 250);
  EXPECT_EQ(c.ReadReply().code, 221);
  EXPECT_EQ(h.next_hop().messages().size(), 1u);
}

TEST(ProxySession, ChunkingRelaysAsData) {
  ProxyHarness h;
  SmtpTestClient c(h.port());
  Begin(c);
  ASSERT_EQ(c.Command("RCPT TO:<bob@example.net>").code, 250);
  c.SendRaw("BDAT 14\r\nSubject: x\r\n\r\n");
  EXPECT_EQ(c.ReadReply().code, 250);
  c.SendRaw("BDAT 12 LAST\r\n.dot\r\nbody\r\n");
  EXPECT_EQ(c.ReadReply().code, 250);
  ASSERT_EQ(h.next_hop().messages().size(), 1u);
  EXPECT_EQ(h.next_hop().messages()[0].data, "Subject: x\r\n\r\n..dot\r\nbody\r\n");
}

}  // namespace
}  // namespace smtpbridge::testing

namespace smtpbridge::testing {
namespace {

TEST(ProxySessionLimits, MaxSessionsRefusesTheNextClientWith421) {
  proxy::ProxyConfig config = ProxyHarness::TestConfig();
  config.limits.max_sessions = 1;
  ProxyHarness h(config);
  SmtpTestClient first(h.port());
  ASSERT_EQ(first.ReadReply().code, 220);
  SmtpTestClient second(h.port());
  EXPECT_EQ(second.ReadReply().code, 421);
  EXPECT_TRUE(second.WaitClosed());
  EXPECT_EQ(first.Command("NOOP").code, 250);  // the first is unaffected
}

TEST(ProxySessionLimits, ShutdownSays421ToOpenSessions) {
  auto h = std::make_unique<ProxyHarness>();
  SmtpTestClient c(h->port());
  ASSERT_EQ(c.ReadReply().code, 220);
  h->server().Stop();
  TestReply r = c.ReadReply();
  EXPECT_EQ(r.code, 421);
  EXPECT_NE(r.text.find("shutting down"), std::string::npos);
}

}  // namespace
}  // namespace smtpbridge::testing
