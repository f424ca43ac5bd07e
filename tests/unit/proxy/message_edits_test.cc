// ApplyEdits: every message and envelope edit of a transaction in one place, in order, a refused
// edit changing nothing.
#include "message_edits.h"

#include <gtest/gtest.h>

namespace smtpbridge::proxy {
namespace {

const std::string kRaw = "Subject: hello\r\n\r\nbody\r\n";

OutboundEnvelope Envelope() {
  return OutboundEnvelope{
      "alice@example.com", "", {{"bob@example.net", ""}, {"Carol@example.net", ""}}};
}

TEST(ApplyEdits, HeadersAndEnvelopeInOrder) {
  std::vector<v1::MessageEdit> edits(5);
  edits[0].mutable_add_header()->set_name("X-Policy");
  edits[0].mutable_add_header()->set_value("checked");
  edits[1].mutable_change_sender()->set_address("bounce@example.com");
  edits[1].mutable_change_sender()->set_parameters("BODY=8BITMIME");
  edits[2].mutable_add_recipient()->set_address("audit@example.com");
  edits[3].mutable_delete_recipient()->set_address("carol@EXAMPLE.net");  // case-insensitive
  edits[4].mutable_quarantine()->set_reason("spam\r\nX-Evil: 1");
  MessageData message(kRaw);
  OutboundEnvelope env = Envelope();
  const EditsOutcome out = ApplyEdits(edits, &message, &env);
  EXPECT_TRUE(out.refused.empty());
  EXPECT_FALSE(out.discard);
  EXPECT_EQ(env.sender, "bounce@example.com");
  EXPECT_EQ(env.sender_params, " BODY=8BITMIME");
  ASSERT_EQ(env.recipients.size(), 2u);
  EXPECT_EQ(env.recipients[0].first, "bob@example.net");
  EXPECT_EQ(env.recipients[1].first, "audit@example.com");
  const std::string wire = message.Wire();
  EXPECT_NE(wire.find("X-Policy: checked\r\n"), std::string::npos);
  // The quarantine reason is made one line: no header smuggled through it.
  EXPECT_NE(wire.find("X-Smtpbridge-Quarantine: spam"), std::string::npos);
  EXPECT_EQ(wire.find("\r\nX-Evil"), std::string::npos);
}

TEST(ApplyEdits, RefusedEditsChangeNothingAndTheRestApply) {
  std::vector<v1::MessageEdit> edits(4);
  edits[0].mutable_change_sender()->set_address("a@b> SIZE=1");  // would smuggle a parameter
  edits[1].mutable_add_recipient()->set_address("not a mailbox");
  edits[2].mutable_add_header()->set_name("Bad Name");
  edits[3].mutable_discard();
  MessageData message(kRaw);
  OutboundEnvelope env = Envelope();
  const EditsOutcome out = ApplyEdits(edits, &message, &env);
  EXPECT_EQ(out.refused.size(), 3u);
  EXPECT_TRUE(out.discard);
  EXPECT_EQ(env.sender, "alice@example.com");
  EXPECT_EQ(env.sender_params, "");
  EXPECT_EQ(env.recipients.size(), 2u);
  EXPECT_EQ(message.Wire(), kRaw);
}

TEST(ApplyEdits, ReplaceBodyAndNoEdits) {
  MessageData untouched(kRaw);
  OutboundEnvelope env = Envelope();
  EXPECT_TRUE(ApplyEdits({}, &untouched, &env).refused.empty());
  EXPECT_EQ(untouched.Wire(), kRaw);

  std::vector<v1::MessageEdit> edits(1);
  edits[0].mutable_replace_body()->set_body(".new\nbody\n");
  MessageData message(kRaw);
  ApplyEdits(edits, &message, &env);
  EXPECT_EQ(message.Wire(), "Subject: hello\r\n\r\n..new\r\nbody\r\n");
}

}  // namespace
}  // namespace smtpbridge::proxy
