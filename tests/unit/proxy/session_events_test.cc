// The proxy's event fill rules without I/O (session_events.h).
#include "session_events.h"

#include <gtest/gtest.h>

namespace smtpbridge::proxy {
namespace {

v1::SessionContext Session() {
  v1::SessionContext s;
  s.set_session_id("abc");
  s.set_helo_name("client.example");
  return s;
}

TEST(SessionEvents, IdsAndTheOpenTransaction) {
  SessionState::Transaction txn;
  txn.open = true;
  txn.sender = "a@b.c";
  txn.recipients = {"x@y.z"};
  txn.declared_size = 42;
  txn.mail_parameters = {{"SIZE", "42"}};
  const v1::Event e = NewEvent(v1::EVENT_TYPE_INBOUND_COMMAND, Session(), 7, txn, nullptr);
  EXPECT_EQ(e.event_id(), "abc.7");
  EXPECT_EQ(e.session().helo_name(), "client.example");
  EXPECT_TRUE(e.envelope().has_sender());
  EXPECT_EQ(e.envelope().sender(), "a@b.c");
  EXPECT_EQ(e.envelope().recipients_size(), 1);
  EXPECT_EQ(e.envelope().size(), 42u);
  EXPECT_EQ(e.envelope().mail_parameters().at("SIZE"), "42");
  EXPECT_GT(e.time().seconds(), 0);
}

TEST(SessionEvents, MailsOwnEventsCarryItsPath) {
  const Command mail = ParseCommand("MAIL FROM:<a@b.c> BODY=8BITMIME");
  const v1::Event e =
      NewEvent(v1::EVENT_TYPE_MESSAGE_START, Session(), 0, SessionState::Transaction{}, &mail);
  EXPECT_TRUE(e.envelope().has_sender());
  EXPECT_EQ(e.envelope().sender(), "a@b.c");
  EXPECT_EQ(e.envelope().mail_parameters().at("BODY"), "8BITMIME");
  const Command bad = ParseCommand("MAIL FROM:bad");
  EXPECT_FALSE(
      NewEvent(v1::EVENT_TYPE_INBOUND_COMMAND, Session(), 0, {}, &bad).envelope().has_sender());
}

TEST(SessionEvents, AuthNeverCarriesCredentials) {
  v1::Event e;
  FillInboundCommand(ParseCommand("AUTH PLAIN dXNlcgB1c2VyAHNlY3JldA=="),
                     MakeReply(502, "5.5.1", "no"), 0, &e);
  EXPECT_EQ(e.command().keyword(), "AUTH");
  EXPECT_EQ(e.command().argument(), "PLAIN");
  EXPECT_EQ(e.command().line(), "AUTH PLAIN");
  EXPECT_EQ(e.response().code(), 502u);
}

TEST(SessionEvents, RecipientAndItsIndex) {
  v1::Event inbound;
  FillInboundCommand(ParseCommand("RCPT TO:<x@y.z>"), MakeReply(250, "2.1.5", "Ok"), 3, &inbound);
  EXPECT_EQ(inbound.envelope().recipient(), "x@y.z");
  EXPECT_EQ(inbound.envelope().recipient_index(), 3u);

  v1::Event outbound;
  outbound.set_type(v1::EVENT_TYPE_PER_RECIPIENT);
  FillOutboundCommand("RCPT", "RCPT TO:<x@y.z>", 3, &outbound);
  EXPECT_EQ(outbound.command().argument(), "TO:<x@y.z>");
  EXPECT_EQ(outbound.envelope().recipient(), "x@y.z");
  EXPECT_EQ(outbound.envelope().recipient_index(), 3u);
  ASSERT_EQ(outbound.envelope().recipients_size(), 1);

  v1::Event response;
  FillServerResponse("RCPT", "RCPT TO:<x@y.z>", MakeReply(550, "5.1.1", "unknown"), &response);
  EXPECT_EQ(response.envelope().recipient(), "x@y.z");
  EXPECT_EQ(response.command().argument(), "TO:<x@y.z>");
  EXPECT_EQ(response.response().code(), 550u);
}

TEST(SessionEvents, EightBitIsCleaned) {
  v1::Event e;
  FillServerResponse("XFOO", "XFOO caf\xe9", MakeReply(500, "5.5.2", "no"), &e);
  EXPECT_EQ(e.command().argument(), "caf?");
  EXPECT_EQ(e.command().line(), "XFOO caf?");
  EXPECT_TRUE(e.IsInitialized());
  std::string wire;
  EXPECT_TRUE(e.SerializeToString(&wire));
}

TEST(SessionEvents, EndOfDataCarriesTheMessage) {
  MessageData message("Subject: hi\r\n\r\n..body\r\n");
  v1::Event e;
  FillEndOfData(message, MakeReply(250, "2.0.0", "Ok: queued"), 3, &e);
  EXPECT_EQ(e.command().keyword(), "_EOD");
  ASSERT_EQ(e.message().headers_size(), 1);
  EXPECT_EQ(e.message().headers(0).name(), "Subject");
  EXPECT_EQ(e.message().body(), ".bo");  // unstuffed, limited
  EXPECT_TRUE(e.message().body_truncated());
  EXPECT_EQ(e.message().size(), message.size());
  EXPECT_EQ(e.envelope().size(), message.size());
}

}  // namespace
}  // namespace smtpbridge::proxy
