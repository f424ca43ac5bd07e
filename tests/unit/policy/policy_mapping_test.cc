// Requests to events (every Postfix 3.7 attribute), verdicts to access(5) actions.
#include "policy/policy_mapping.h"

#include <gtest/gtest.h>

#include "unit/milter/fake_sink.h"

namespace smtpbridge::policy {
namespace {

using testing::MakeVerdict;

// What Postfix 3.7 sends for a RCPT (policy delegation README, "Protocol description").
PolicyRequest Postfix37Rcpt() {
  PolicyRequest r;
  r.attributes = {
      {"request", "smtpd_access_policy"},
      {"protocol_state", "RCPT"},
      {"protocol_name", "ESMTP"},
      {"helo_name", "client.example"},
      {"queue_id", "8045F2AB23"},
      {"sender", "foo@bar.tld"},
      {"recipient", "bar@foo.tld"},
      {"recipient_count", "2"},
      {"client_address", "192.0.2.1"},
      {"client_name", "client.example"},
      {"reverse_client_name", "client.example"},
      {"instance", "123.456.7"},
      {"sasl_method", "plain"},
      {"sasl_username", "alice"},
      {"sasl_sender", ""},
      {"size", "12345"},
      {"ccert_subject", "CN=client"},
      {"ccert_issuer", "CN=ca"},
      {"ccert_fingerprint", "AB:CD"},
      {"ccert_pubkey_fingerprint", "EF:01"},
      {"encryption_protocol", "TLSv1.3"},
      {"encryption_cipher", "TLS_AES_256_GCM_SHA384"},
      {"encryption_keysize", "256"},
      {"etrn_domain", ""},
      {"stress", ""},
      {"client_port", "40001"},
      {"policy_context", "submission"},
      {"server_address", "192.0.2.25"},
      {"server_port", "25"},
      {"compatibility_level", "3.6"},
      {"mail_version", "3.7.11"},
  };
  return r;
}

TEST(PolicyMapping, RcptRequestFillsTypedFieldsAndAttributes) {
  auto request = Postfix37Rcpt();
  auto e = EventFromRequest(request, MappingOptions{2, "mx"}, "sess", "ev1");
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_INBOUND_COMMAND);
  EXPECT_EQ(e.event_id(), "ev1");
  EXPECT_EQ(e.command().keyword(), "RCPT");
  EXPECT_EQ(e.command().argument(), "TO:<bar@foo.tld>");
  EXPECT_EQ(e.command().line(), "RCPT TO:<bar@foo.tld>");
  const auto& s = e.session();
  EXPECT_EQ(s.session_id(), "sess");
  EXPECT_EQ(s.instance(), 2u);
  EXPECT_EQ(s.host_kind(), v1::HOST_KIND_POLICY_DELEGATION);
  EXPECT_EQ(s.host_name(), "mx");
  EXPECT_EQ(s.client().address(), "192.0.2.1");
  EXPECT_EQ(s.client().port(), 40001u);
  EXPECT_EQ(s.client().hostname(), "client.example");
  EXPECT_EQ(s.server().address(), "192.0.2.25");
  EXPECT_EQ(s.server().port(), 25u);
  EXPECT_EQ(s.helo_name(), "client.example");
  EXPECT_TRUE(s.esmtp());
  EXPECT_TRUE(s.tls().active());
  EXPECT_EQ(s.tls().protocol(), "TLSv1.3");
  EXPECT_EQ(s.tls().cipher_bits(), 256u);
  EXPECT_EQ(s.tls().peer_subject(), "CN=client");
  EXPECT_TRUE(s.auth().authenticated());
  EXPECT_EQ(s.auth().mechanism(), "plain");
  EXPECT_EQ(s.auth().username(), "alice");
  // Every attribute, verbatim.
  EXPECT_EQ(s.attributes_size(), static_cast<int>(request.attributes.size()));
  for (const auto& [k, v] : request.attributes) EXPECT_EQ(s.attributes().at(k), v) << k;
  EXPECT_EQ(e.envelope().sender(), "foo@bar.tld");
  EXPECT_TRUE(e.envelope().has_sender());
  EXPECT_EQ(e.envelope().recipient(), "bar@foo.tld");
  EXPECT_EQ(e.envelope().recipient_index(), 2u);
  EXPECT_EQ(e.envelope().size(), 12345u);
}

// #14: a Latin-1 byte in any attribute (MAIL FROM through Postfix with smtputf8_enable=no,
// ccert_subject) must not make the event unparsable for the dispatcher (which would refuse it,
// and the sink would fall back: the policy bypass).
TEST(PolicyMapping, EightBitAttributeBytesBecomeValidUtf8) {
  auto request = Postfix37Rcpt();
  for (auto& [k, v] : request.attributes) {
    if (k == "sender") v = "j\xf6rg@example.org";
    if (k == "ccert_subject") v = "CN=M\xfcller";
  }
  request.attributes.emplace_back("x_\xff", "\xc3");
  auto e = EventFromRequest(request, MappingOptions{}, "s", "e");
  EXPECT_EQ(e.envelope().sender(), "j?rg@example.org");
  EXPECT_EQ(e.session().tls().peer_subject(), "CN=M?ller");
  EXPECT_EQ(e.session().attributes().at("sender"), "j?rg@example.org");
  EXPECT_EQ(e.session().attributes().at("x_?"), "?");
  // What the dispatcher does with it: parse. A string field with invalid UTF-8 fails here.
  std::string wire;
  ASSERT_TRUE(e.SerializeToString(&wire));
  v1::Event parsed;
  EXPECT_TRUE(parsed.ParseFromString(wire));
}

TEST(PolicyMapping, ProtocolStatesToEvents) {
  struct Row {
    const char* state;
    v1::EventType type;
    const char* keyword;
    const char* line;
  };
  const std::vector<Row> rows = {
      {"CONNECT", v1::EVENT_TYPE_CONNECT, "", ""},
      {"EHLO", v1::EVENT_TYPE_INBOUND_COMMAND, "EHLO", "EHLO client.example"},
      {"HELO", v1::EVENT_TYPE_INBOUND_COMMAND, "HELO", "HELO client.example"},
      {"MAIL", v1::EVENT_TYPE_INBOUND_COMMAND, "MAIL", "MAIL FROM:<foo@bar.tld> SIZE=12345"},
      {"RCPT", v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", "RCPT TO:<bar@foo.tld>"},
      {"DATA", v1::EVENT_TYPE_INBOUND_COMMAND, "DATA", "DATA"},
      {"END-OF-MESSAGE", v1::EVENT_TYPE_INBOUND_COMMAND, "_EOD", "_EOD"},
      {"VRFY", v1::EVENT_TYPE_INBOUND_COMMAND, "VRFY", "VRFY bar@foo.tld"},
      {"ETRN", v1::EVENT_TYPE_INBOUND_COMMAND, "ETRN", "ETRN example.org"},
  };
  for (const auto& row : rows) {
    auto request = Postfix37Rcpt();
    for (auto& [k, v] : request.attributes) {
      if (k == "protocol_state") v = row.state;
      if (k == "etrn_domain") v = "example.org";
    }
    auto e = EventFromRequest(request, MappingOptions{}, "s", "e");
    EXPECT_EQ(e.type(), row.type) << row.state;
    EXPECT_EQ(e.command().keyword(), row.keyword) << row.state;
    EXPECT_EQ(e.command().line(), row.line) << row.state;
  }
  auto request = Postfix37Rcpt();
  request.attributes[1].second = "END-OF-MESSAGE";
  auto eod = EventFromRequest(request, MappingOptions{}, "s", "e");
  EXPECT_EQ(eod.message().queue_id(), "8045F2AB23");
  EXPECT_EQ(eod.message().size(), 12345u);
  request.attributes[1].second = "CONNECT";
  EXPECT_FALSE(EventFromRequest(request, MappingOptions{}, "s", "e").envelope().has_sender());
}

TEST(PolicyMapping, VerdictsToActions) {
  EXPECT_EQ(ActionForVerdict(v1::Verdict(), "RCPT"), "DUNNO");
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_CONTINUE), "RCPT"), "DUNNO");
  // Replies without text follow the proto's defaults (not Postfix's 554 / 450).
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_REJECT), "RCPT"),
            "550 5.7.1 Rejected by policy");
  EXPECT_EQ(
      ActionForVerdict(MakeVerdict(v1::ACTION_REJECT, 550, "5.7.1", {"blocked", "really"}), "RCPT"),
      "550 5.7.1 blocked; really");
  int refused = 0;
  EXPECT_EQ(
      ActionForVerdict(MakeVerdict(v1::ACTION_REJECT, 451, "", {"wrong class"}), "RCPT", &refused),
      "550 5.7.1 Rejected by policy");
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_TEMPFAIL), "RCPT"),
            "451 4.7.1 Try again later");
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_TEMPFAIL, 450, "4.2.0", {"later"}), "RCPT"),
            "450 4.2.0 later");
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_RESPOND, 250, "", {"ok"}), "RCPT"), "OK");
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_RESPOND, 554, "", {"no"}), "RCPT"),
            "554 5.7.1 no");
  // RESPOND 421 is refused as on the proxy and the milter (DROP_SESSION says 421): DUNNO, counted.
  int refused_421 = 0;
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_RESPOND, 421, "4.7.0", {"bye"}), "RCPT",
                             &refused_421),
            "DUNNO");
  EXPECT_EQ(refused_421, 1);
  // A code alone is all-numerical, which Postfix reads as OK: the enhanced code always follows.
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_REJECT, 554, "", {}), "RCPT"),
            "554 5.7.1 Rejected by policy");
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_DROP_SESSION, 421, "", {}), "RCPT"),
            "421 4.7.0 Closing connection");
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_TEMPFAIL, 452, "4.5.3", {}), "RCPT"),
            "452 4.5.3 Try again later");
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_DROP_SESSION), "RCPT"),
            "421 4.7.0 Closing connection");
  // A reply the contract forbids (the dispatcher never forwards one): the default, counted.
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_REJECT, 550, "", {"line\r\nbreak"}), "RCPT",
                             &refused),
            "550 5.7.1 Rejected by policy");
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_RESPOND, 354), "RCPT", &refused), "DUNNO");
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(ActionForVerdict(MakeVerdict(static_cast<v1::Action>(42)), "RCPT", &refused), "DUNNO");
  EXPECT_EQ(refused, 1);
  // No next hop here: SKIP_RECIPIENT accepts the recipient.
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_SKIP_RECIPIENT), "RCPT"), "DUNNO");
}

// #14: Postfix's own vocabulary.
TEST(PolicyMapping, PostfixVocabulary) {
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_DEFER_IF_PERMIT, 450, "4.7.1", {"greylisted"}),
                             "RCPT"),
            "DEFER_IF_PERMIT greylisted");
  EXPECT_EQ(ActionForVerdict(MakeVerdict(v1::ACTION_DEFER_IF_PERMIT), "RCPT"), "DEFER_IF_PERMIT");
  EXPECT_EQ(
      ActionForVerdict(MakeVerdict(v1::ACTION_DEFER_IF_REJECT, 450, "", {"maybe later"}), "RCPT"),
      "DEFER_IF_REJECT maybe later");
  v1::Verdict warn;
  warn.add_edits()->mutable_warn()->set_text("suspicious HELO");
  EXPECT_EQ(ActionForVerdict(warn, "RCPT"), "WARN suspicious HELO");
  v1::Verdict info;
  info.add_edits()->mutable_info()->set_text("seen");
  EXPECT_EQ(ActionForVerdict(info, "RCPT"), "INFO seen");
  v1::Verdict filter;
  filter.add_edits()->mutable_filter()->set_transport("smtp:[127.0.0.1]:10025");
  filter.add_edits()->mutable_warn()->set_text("filtered");
  EXPECT_EQ(ActionForVerdict(filter, "RCPT"), "FILTER smtp:[127.0.0.1]:10025");
  v1::Verdict redirect;
  redirect.add_edits()->mutable_redirect()->set_address("quarantine@example.org");
  EXPECT_EQ(ActionForVerdict(redirect, "RCPT"), "REDIRECT quarantine@example.org");
  int refused = 0;
  v1::Verdict bad;
  bad.add_edits()->mutable_redirect()->set_address("x@example.org> NOTIFY=NEVER");
  EXPECT_EQ(ActionForVerdict(bad, "RCPT", &refused), "DUNNO");
  EXPECT_EQ(refused, 1);
}

// #14: a BCC address with '>' or spaces (ESMTP parameter injection) or an invalid PREPEND header
// is refused and counted; a HOLD reason with CR/LF still holds, on one line.
TEST(PolicyMapping, InvalidEditsAreRefusedAndCountedQuarantineStays) {
  v1::Verdict bcc;
  bcc.add_edits()->mutable_add_recipient()->set_address("a@example.org> NOTIFY=NEVER");
  int refused = -1;
  EXPECT_EQ(ActionForVerdict(bcc, "RCPT", &refused), "DUNNO");
  EXPECT_EQ(refused, 1);
  v1::Verdict prepend;
  auto* h = prepend.add_edits()->mutable_add_header();
  h->set_name("X-A");
  h->set_value("1\r\nX-Injected: 2");
  EXPECT_EQ(ActionForVerdict(prepend, "RCPT", &refused), "DUNNO");
  EXPECT_EQ(refused, 1);
  v1::Verdict hold;
  hold.add_edits()->mutable_quarantine()->set_reason("bad\r\nstuff");
  EXPECT_EQ(ActionForVerdict(hold, "END-OF-MESSAGE", &refused), "HOLD bad  stuff");
  EXPECT_EQ(refused, 0);
}

TEST(PolicyMapping, EditsToActions) {
  v1::Verdict header;
  auto* h = header.add_edits()->mutable_add_header();
  h->set_name("X-Policy");
  h->set_value("checked");
  EXPECT_EQ(ActionForVerdict(header, "RCPT"), "PREPEND X-Policy: checked");
  // Postfix cannot PREPEND at END-OF-MESSAGE.
  EXPECT_EQ(ActionForVerdict(header, "END-OF-MESSAGE"), "DUNNO");

  v1::Verdict hold = header;
  hold.add_edits()->mutable_quarantine()->set_reason("suspicious");
  EXPECT_EQ(ActionForVerdict(hold, "END-OF-MESSAGE"), "HOLD suspicious");

  v1::Verdict discard = hold;
  discard.add_edits()->mutable_discard();
  discard.set_reason("spam");
  EXPECT_EQ(ActionForVerdict(discard, "RCPT"), "DISCARD spam");

  v1::Verdict bcc;
  bcc.add_edits()->mutable_add_recipient()->set_address("archive@example.com");
  EXPECT_EQ(ActionForVerdict(bcc, "RCPT"), "BCC archive@example.com");
}

}  // namespace
}  // namespace smtpbridge::policy
