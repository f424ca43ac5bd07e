// Local rules: CIDR and glob matching, event and instance filters, and the rules file.
#include "core/local_rules.h"

#include <gtest/gtest.h>

#include "sink_test_util.h"
#include "support/temp_dir.h"

namespace smtpbridge::sink::testing {
namespace {

TEST(Cidr, MatchesIpv4Blocks) {
  const auto net = Cidr::Parse("192.0.2.0/24");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->Contains("192.0.2.0"));
  EXPECT_TRUE(net->Contains("192.0.2.255"));
  EXPECT_FALSE(net->Contains("192.0.3.1"));
  EXPECT_TRUE(net->Contains("[192.0.2.7]"));
  EXPECT_TRUE(net->Contains("::ffff:192.0.2.7"));  // IPv4-mapped
  EXPECT_FALSE(net->Contains("2001:db8::1"));
  EXPECT_FALSE(net->Contains("not-an-address"));
  EXPECT_FALSE(net->Contains(""));
  const auto odd = Cidr::Parse("10.0.0.0/9");
  EXPECT_TRUE(odd->Contains("10.127.255.255"));
  EXPECT_FALSE(odd->Contains("10.128.0.0"));
  EXPECT_TRUE(Cidr::Parse("0.0.0.0/0")->Contains("203.0.113.1"));
  EXPECT_TRUE(Cidr::Parse("198.51.100.4")->Contains("198.51.100.4"));
  EXPECT_FALSE(Cidr::Parse("198.51.100.4")->Contains("198.51.100.5"));
}

TEST(Cidr, MatchesIpv6Blocks) {
  const auto net = Cidr::Parse("2001:db8:abcd::/48");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->Contains("2001:db8:abcd:1::25"));
  EXPECT_TRUE(net->Contains("IPv6:2001:db8:abcd::1"));
  EXPECT_FALSE(net->Contains("2001:db8:abce::1"));
  EXPECT_FALSE(net->Contains("192.0.2.1"));
  EXPECT_TRUE(Cidr::Parse("::1")->Contains("::1"));
}

TEST(Cidr, RejectsMalformedBlocks) {
  for (const char* bad : {"", "192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "192.0.2/24",
                          "192.0.2.0/2x", "example.com", "/24", "192.0.2.0/0024"}) {
    EXPECT_FALSE(Cidr::Parse(bad)) << bad;
  }
}

bool GlobMatch(const std::string& pattern, const std::string& text) {
  std::string error;
  auto glob = common::Glob::Compile(pattern, &error);
  EXPECT_TRUE(glob) << error;
  return glob && glob->Matches(text);
}

TEST(Glob, MatchesCaseInsensitively) {
  EXPECT_TRUE(GlobMatch("*@example.com", "Bob@EXAMPLE.com"));
  EXPECT_FALSE(GlobMatch("*@example.com", "bob@example.com.evil"));
  EXPECT_TRUE(GlobMatch("postmaster@*", "postmaster@a.b"));
  EXPECT_TRUE(GlobMatch("?ob@*.example", "bob@mail.example"));
  EXPECT_FALSE(GlobMatch("?ob@*.example", "ob@mail.example"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_FALSE(GlobMatch("", "x"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYbZZc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYYbZZ"));
  EXPECT_TRUE(GlobMatch(std::string(50, '*') + "x", std::string(10000, 'a') + "x"));
}

// The bindings' syntax: classes work here too, and a '*' in the subject is just a character.
TEST(Glob, SameSyntaxAsBindingRules) {
  EXPECT_TRUE(GlobMatch("user[0-9]@example.com", "user7@example.com"));
  EXPECT_FALSE(GlobMatch("user[!0-9]@example.com", "user7@example.com"));
  EXPECT_TRUE(GlobMatch("*a", "*ba"));
  EXPECT_FALSE(GlobMatch("*a", "*ab"));
}

TEST(LocalRules, MalformedGlobIsRefusedWithFileAndLine) {
  smtpbridge::testing::TempDir dir;
  const auto path =
      dir.Write("rules.yaml", "rules:\n  - name: x\n    sender: \"[abc\"\n    action: reject\n");
  try {
    LocalRules::LoadFile(path.string());
    FAIL() << "loaded a malformed glob";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("rules.yaml:3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("unterminated '['"), std::string::npos) << e.what();
  }
}

v1::Event Mail(const std::string& from, const std::string& client = "192.0.2.10") {
  return MakeEvent(v1::EVENT_TYPE_INBOUND_COMMAND, "MAIL", "FROM:<" + from + "> SIZE=100", client);
}

TEST(LocalRules, ReadAddressesFromCommandsBeforeTheEnvelopeHasThem) {
  EXPECT_EQ(*EventSender(Mail("a@b.example")), "a@b.example");
  EXPECT_EQ(*EventSender(Mail("")), "");  // the null sender is a sender
  EXPECT_EQ(*EventRecipient(Rcpt("c@d.example")), "c@d.example");
  EXPECT_EQ(*EventHelo(MakeEvent(v1::EVENT_TYPE_INBOUND_COMMAND, "EHLO", "mx.example")),
            "mx.example");
  EXPECT_FALSE(EventSender(MakeEvent(v1::EVENT_TYPE_CONNECT)));
  v1::Event with_envelope = Rcpt("x@y");
  with_envelope.mutable_envelope()->set_sender("s@t");
  with_envelope.mutable_envelope()->set_has_sender(true);
  with_envelope.mutable_session()->set_helo_name("client.example");
  EXPECT_EQ(*EventSender(with_envelope), "s@t");
  EXPECT_EQ(*EventHelo(with_envelope), "client.example");
}

TEST(LocalRules, AllConditionsOfARuleMustMatchAndTheFirstRuleWins) {
  LocalRule spam;
  spam.name = "spam-from-net";
  spam.clients.push_back(*Cidr::Parse("203.0.113.0/24"));
  spam.senders = {*common::Glob::Compile("*@spam.example", nullptr)};
  spam.verdict = MakeVerdict(v1::ACTION_REJECT, 550);
  LocalRule any_v6;
  any_v6.name = "v6-net";
  any_v6.clients.push_back(*Cidr::Parse("2001:db8::/32"));
  any_v6.events = {v1::EVENT_TYPE_CONNECT};
  any_v6.verdict = MakeVerdict(v1::ACTION_TEMPFAIL, 451);
  LocalRule catch_all;
  catch_all.name = "catch-all";
  catch_all.instance = 2;
  catch_all.verdict = MakeVerdict(v1::ACTION_CONTINUE);
  const LocalRules rules({spam, any_v6, catch_all});

  EXPECT_EQ(rules.Match(Mail("x@SPAM.example", "203.0.113.7"))->name, "spam-from-net");
  EXPECT_EQ(rules.Match(Mail("x@spam.example", "198.51.100.7")), nullptr);  // other client
  EXPECT_EQ(rules.Match(Mail("x@ham.example", "203.0.113.7")), nullptr);    // other sender
  EXPECT_EQ(rules.Match(MakeEvent(v1::EVENT_TYPE_CONNECT, "", "", "203.0.113.7")), nullptr);
  EXPECT_EQ(rules.Match(MakeEvent(v1::EVENT_TYPE_CONNECT, "", "", "2001:db8::5"))->name, "v6-net");
  EXPECT_EQ(rules.Match(Rcpt("a@b", "2001:db8::5")), nullptr);  // not a CONNECT event
  EXPECT_EQ(rules.Match(MakeEvent(v1::EVENT_TYPE_CONNECT, "", "", "192.0.2.1", 2))->name,
            "catch-all");
}

TEST(LocalRules, LoadsAFile) {
  smtpbridge::testing::TempDir dir;
  const auto path = dir.Write("rules.yaml", R"(rules:
  - name: trusted
    client: [10.0.0.0/8, "2001:db8::/32"]
    action: continue
  - name: spammer
    sender: "*@spam.example"
    recipient: ["postmaster@*", "abuse@*"]
    helo: "*.dynamic.example"
    events: [INBOUND_COMMAND, OnConnect]
    instance: 1
    action: reject
    reply: "550 5.7.1 Blocked by local policy"
)");
  const LocalRules rules = LocalRules::LoadFile(path.string());
  ASSERT_EQ(rules.size(), 2u);
  v1::Event e = Rcpt("abuse@x.example", "192.0.2.1");
  e.mutable_envelope()->set_sender("bot@spam.example");
  e.mutable_envelope()->set_has_sender(true);
  e.mutable_session()->set_helo_name("h1.dynamic.example");
  const LocalRule* rule = rules.Match(e);
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->name, "spammer");
  EXPECT_EQ(rule->verdict.action(), v1::ACTION_REJECT);
  EXPECT_EQ(rule->verdict.reply().code(), 550u);
  EXPECT_EQ(rule->verdict.reply().enhanced_code(), "5.7.1");
  EXPECT_EQ(rule->verdict.reply().lines(0), "Blocked by local policy");
  EXPECT_EQ(rules.Match(Rcpt("x@y", "10.1.2.3"))->name, "trusted");
}

void ExpectLoadError(const std::string& yaml, const std::string& where) {
  smtpbridge::testing::TempDir dir;
  const auto path = dir.Write("rules.yaml", yaml);
  try {
    LocalRules::LoadFile(path.string());
    ADD_FAILURE() << "no error for:\n" << yaml;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ":" + where), std::string::npos)
        << e.what();
  }
}

TEST(LocalRules, FileErrorsNameLineAndField) {
  ExpectLoadError("rules:\n  - client: 10.0.0.0/33\n    action: reject\n", "2: rules[0].client");
  ExpectLoadError("rules:\n  - action: reject\n  - action: maybe\n", "3: rules[1].action");
  ExpectLoadError("rules:\n  - action: reject\n    reply: \"451 later\"\n", "3: rules[0].reply");
  ExpectLoadError("rules:\n  - action: continue\n    colour: red\n", "3: rules[0].colour");
  ExpectLoadError("rules:\n  - events: [NOPE]\n    action: reject\n", "2: rules[0].events");
  ExpectLoadError("rules:\n  - name: x\n", "2: rules[0].action");
  ExpectLoadError("rules: [\n", "");
  ExpectLoadError("rules: 3\n", "1: rules");
}

TEST(LocalRules, MissingFileIsAClearError) {
  EXPECT_THROW(LocalRules::LoadFile("/nonexistent/rules.yaml"), std::runtime_error);
}

}  // namespace
}  // namespace smtpbridge::sink::testing
