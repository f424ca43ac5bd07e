// SEO rule syntax: what each rule matches and what it does not.
#include "bindings/rule.h"

#include <gtest/gtest.h>

#include "smtpbridge/common/glob.h"

namespace smtpbridge::dispatcher {
namespace {

v1::Event Command(const std::string& keyword, const std::string& argument,
                  v1::EventType type = v1::EVENT_TYPE_INBOUND_COMMAND) {
  v1::Event e;
  e.set_type(type);
  e.mutable_command()->set_keyword(keyword);
  e.mutable_command()->set_argument(argument);
  e.mutable_command()->set_line(keyword + (argument.empty() ? "" : " " + argument));
  return e;
}

struct RuleCase {
  std::string rule;
  std::string keyword;
  std::string argument;
  bool matches;
};

void PrintTo(const RuleCase& c, std::ostream* os) {
  *os << "rule \"" << c.rule << "\" vs \"" << c.keyword << " " << c.argument << "\" -> "
      << (c.matches ? "match" : "no match");
}

class RuleTableTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(RuleTableTest, Matches) {
  const RuleCase& c = GetParam();
  std::string error;
  auto rule = Rule::Compile(c.rule, v1::EVENT_TYPE_INBOUND_COMMAND, &error);
  ASSERT_TRUE(rule) << error;
  EXPECT_EQ(rule->Matches(Command(c.keyword, c.argument)), c.matches)
      << "rule \"" << c.rule << "\" vs \"" << c.keyword << " " << c.argument << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Seo, RuleTableTest,
    ::testing::Values(
        // `*` and the empty rule match everything.
        RuleCase{"*", "RCPT", "TO:<a@b>", true}, RuleCase{"", "QUIT", "", true},
        RuleCase{"*", "_EOD", "", true},
        // Bare keywords, case-insensitive on both sides.
        RuleCase{"RCPT", "RCPT", "TO:<a@b>", true}, RuleCase{"rcpt", "RCPT", "TO:<a@b>", true},
        RuleCase{"RCPT", "rcpt", "TO:<a@b>", true}, RuleCase{"RCPT", "MAIL", "FROM:<a@b>", false},
        RuleCase{"RCP", "RCPT", "", false}, RuleCase{"_EOD", "_EOD", "", true},
        RuleCase{"XFOO", "XFOO", "bar", true},
        // ';' lists: any alternative.
        RuleCase{"MAIL;RCPT", "RCPT", "TO:<a@b>", true},
        RuleCase{"MAIL; RCPT ;DATA", "DATA", "", true}, RuleCase{"MAIL;RCPT", "DATA", "", false},
        RuleCase{"MAIL;RCPT;", "MAIL", "FROM:<x@y>", true},
        // MAIL FROM= matches the reverse path, brackets and ESMTP parameters stripped.
        RuleCase{"MAIL FROM=*@example.com", "MAIL", "FROM:<joe@example.com> SIZE=100 BODY=8BITMIME",
                 true},
        RuleCase{"MAIL FROM=*@example.com", "MAIL", "FROM:<joe@example.org>", false},
        RuleCase{"MAIL FROM=*@EXAMPLE.com", "MAIL", "from:<Joe@Example.COM>", true},
        RuleCase{"mail from=joe@example.com", "MAIL", "FROM: <joe@example.com>", true},
        RuleCase{"MAIL FROM=joe@example.com", "MAIL", "FROM:joe@example.com SIZE=5", true},
        RuleCase{"MAIL FROM=*@example.com", "RCPT", "TO:<joe@example.com>", false},
        // The null sender: `<>` matches only it; `*` matches it too.
        RuleCase{"MAIL FROM=<>", "MAIL", "FROM:<>", true},
        RuleCase{"MAIL FROM=<>", "MAIL", "FROM:<a@b>", false},
        RuleCase{"MAIL FROM=*", "MAIL", "FROM:<> SIZE=10", true},
        RuleCase{"MAIL FROM=?*", "MAIL", "FROM:<>", false},
        // RCPT TO= on the forward path, source routes dropped.
        RuleCase{"RCPT TO=*@blocked.example", "RCPT", "TO:<bad@blocked.example> NOTIFY=NEVER",
                 true},
        RuleCase{"RCPT TO=*@blocked.example", "RCPT", "TO:<ok@fine.example>", false},
        RuleCase{"RCPT TO=u@h.example", "RCPT", "TO:<@relay1,@relay2:u@h.example>", true},
        RuleCase{"RCPT TO=postmaster", "RCPT", "TO:<Postmaster>", true},
        RuleCase{"RCPT TO=*@blocked.example;MAIL FROM=*@spam.example", "MAIL",
                 "FROM:<x@spam.example>", true},
        // Globs: `?`, classes, anchoring.
        RuleCase{"RCPT TO=user?@example.com", "RCPT", "TO:<user1@example.com>", true},
        RuleCase{"RCPT TO=user?@example.com", "RCPT", "TO:<user12@example.com>", false},
        RuleCase{"RCPT TO=user[0-9]@example.com", "RCPT", "TO:<user7@example.com>", true},
        RuleCase{"RCPT TO=user[!0-9]@example.com", "RCPT", "TO:<userx@example.com>", true},
        RuleCase{"RCPT TO=user[!0-9]@example.com", "RCPT", "TO:<user7@example.com>", false},
        RuleCase{"RCPT TO=*example.com", "RCPT", "TO:<a@example.com.evil>", false},
        // Other keywords: the glob is on the whole argument.
        RuleCase{"EHLO=*.example.com", "EHLO", "mx1.example.com", true},
        RuleCase{"EHLO=*.example.com", "EHLO", "example.com", false},
        RuleCase{"EHLO=*.example.com", "HELO", "mx1.example.com", false},
        RuleCase{"HELO=*.example.com", "HELO", "MX1.EXAMPLE.COM", true},
        RuleCase{"VRFY=root*", "VRFY", "root", true}),
    [](const ::testing::TestParamInfo<RuleCase>& info) {
      return "Case" + std::to_string(info.index) + (info.param.matches ? "_Matches" : "_NoMatch");
    });

TEST(RuleTest, KeywordAndArgumentComeFromTheLineWhenNotSplit) {
  v1::Event e;
  e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  e.mutable_command()->set_line("rcpt TO:<bad@blocked.example>");
  std::string error;
  auto rule = Rule::Compile("RCPT TO=*@blocked.example", e.type(), &error);
  ASSERT_TRUE(rule) << error;
  EXPECT_TRUE(rule->Matches(e));
}

TEST(RuleTest, ServerResponseMatchesReplyCodeOrElicitingCommand) {
  std::string error;
  auto codes = Rule::Compile("5*;421", v1::EVENT_TYPE_SERVER_RESPONSE, &error);
  ASSERT_TRUE(codes) << error;
  auto reply = [](const std::string& keyword, uint32_t code) {
    v1::Event e = Command(keyword, "", v1::EVENT_TYPE_SERVER_RESPONSE);
    e.mutable_response()->set_code(code);
    return e;
  };
  EXPECT_TRUE(codes->Matches(reply("RCPT", 550)));
  EXPECT_TRUE(codes->Matches(reply("QUIT", 421)));
  EXPECT_FALSE(codes->Matches(reply("RCPT", 250)));
  EXPECT_FALSE(codes->Matches(reply("RCPT", 451)));
  auto by_command = Rule::Compile("RCPT", v1::EVENT_TYPE_SERVER_RESPONSE, &error);
  ASSERT_TRUE(by_command) << error;
  EXPECT_TRUE(by_command->Matches(reply("RCPT", 250)));
  EXPECT_FALSE(by_command->Matches(reply("MAIL", 250)));
  // On other events a leading digit is not a reply code.
  EXPECT_FALSE(Rule::Compile("5*", v1::EVENT_TYPE_INBOUND_COMMAND, &error));
}

TEST(RuleTest, ConnectMatchesClientAddress) {
  std::string error;
  auto rule =
      Rule::Compile("CONNECT=192.0.2.*;connect=2001:db8::*", v1::EVENT_TYPE_CONNECT, &error);
  ASSERT_TRUE(rule) << error;
  v1::Event e;
  e.set_type(v1::EVENT_TYPE_CONNECT);
  e.mutable_session()->mutable_client()->set_address("192.0.2.55");
  EXPECT_TRUE(rule->Matches(e));
  e.mutable_session()->mutable_client()->set_address("2001:DB8::1");
  EXPECT_TRUE(rule->Matches(e));
  e.mutable_session()->mutable_client()->set_address("198.51.100.1");
  EXPECT_FALSE(rule->Matches(e));
  auto all = Rule::Compile("CONNECT", v1::EVENT_TYPE_CONNECT, &error);
  ASSERT_TRUE(all) << error;
  EXPECT_TRUE(all->Matches(e));
  EXPECT_FALSE(Rule::Compile("RCPT", v1::EVENT_TYPE_CONNECT, &error));
  EXPECT_NE(error.find("CONNECT"), std::string::npos);
}

TEST(RuleTest, MalformedRulesAreRejectedWithTheReason) {
  std::string error;
  EXPECT_FALSE(Rule::Compile("MAIL TO=*", v1::EVENT_TYPE_INBOUND_COMMAND, &error));
  EXPECT_NE(error.find("MAIL TO=*"), std::string::npos) << error;
  EXPECT_FALSE(Rule::Compile("RCPT TO=[abc", v1::EVENT_TYPE_INBOUND_COMMAND, &error));
  EXPECT_NE(error.find("unterminated"), std::string::npos) << error;
  EXPECT_FALSE(Rule::Compile("MAIL;;RCPT", v1::EVENT_TYPE_INBOUND_COMMAND, &error));
  EXPECT_FALSE(Rule::Compile("RC PT", v1::EVENT_TYPE_INBOUND_COMMAND, &error));
  EXPECT_FALSE(Rule::Compile("R$PT", v1::EVENT_TYPE_INBOUND_COMMAND, &error));
}

TEST(RuleTest, KeywordsForInterests) {
  std::string error;
  auto rule = Rule::Compile("rcpt TO=*@x;MAIL;rcpt", v1::EVENT_TYPE_INBOUND_COMMAND, &error);
  ASSERT_TRUE(rule) << error;
  EXPECT_EQ(rule->keywords(), (std::vector<std::string>{"RCPT", "MAIL"}));
  EXPECT_FALSE(rule->matches_any_keyword());
  auto any = Rule::Compile("RCPT;*", v1::EVENT_TYPE_INBOUND_COMMAND, &error);
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->matches_any_keyword());
  EXPECT_TRUE(any->keywords().empty());
}

TEST(PathTest, ExtractsTheMailbox) {
  EXPECT_EQ(ExtractPath("FROM:<a@b> SIZE=10"), "a@b");
  EXPECT_EQ(ExtractPath("TO:<@r1,@r2:u@h>"), "u@h");
  EXPECT_EQ(ExtractPath("FROM:<>"), "");
  EXPECT_EQ(ExtractPath("from: <a@b>"), "a@b");
  EXPECT_EQ(ExtractPath("TO:a@b NOTIFY=NEVER"), "a@b");
  EXPECT_EQ(ExtractPath("FROM:<a@b"), "a@b");  // unterminated: take the rest
  EXPECT_EQ(ExtractPath(""), "");
}

TEST(GlobTest, Basics) {
  std::string error;
  auto g = Glob::Compile("*a*b?c", &error);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->Matches("xxAyyBzc"));
  EXPECT_FALSE(g->Matches("xxAyyBc"));
  EXPECT_TRUE(Glob::Compile("", &error)->Matches(""));
  EXPECT_FALSE(Glob::Compile("", &error)->Matches("a"));
  EXPECT_TRUE(Glob::Compile("[]x]", &error)->Matches("]"));
  EXPECT_TRUE(Glob::Compile("**", &error)->MatchesAll());
  EXPECT_FALSE(Glob::Compile("a[b", &error));
}

}  // namespace
}  // namespace smtpbridge::dispatcher
