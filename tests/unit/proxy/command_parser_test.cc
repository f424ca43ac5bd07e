// The RFC 5321 command parser, table-driven: what each line parses to, or the exact error.
#include "command_parser.h"

#include <gtest/gtest.h>

namespace smtpbridge::proxy {
namespace {

struct Case {
  std::string line;
  Verb verb;
  int error_code;  // 0: valid
  std::string enhanced;
  std::string canonical;  // for valid lines
};

class CommandParserTable : public ::testing::TestWithParam<Case> {};

TEST_P(CommandParserTable, ParsesOrRefuses) {
  const Case& c = GetParam();
  const Command cmd = ParseCommand(c.line);
  EXPECT_EQ(cmd.verb, c.verb) << c.line;
  if (c.error_code == 0) {
    ASSERT_FALSE(cmd.error) << c.line << " -> " << cmd.error->Text();
    EXPECT_EQ(cmd.Canonical(), c.canonical);
  } else {
    ASSERT_TRUE(cmd.error) << c.line;
    EXPECT_EQ(cmd.error->code, c.error_code) << c.line << " -> " << cmd.error->Text();
    EXPECT_EQ(cmd.error->enhanced, c.enhanced) << c.line;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc5321, CommandParserTable,
    ::testing::Values(
        Case{"EHLO client.example", Verb::kEhlo, 0, "", "EHLO client.example"},
        Case{"ehlo   client.example  ", Verb::kEhlo, 0, "", "EHLO client.example"},
        Case{"HELO [192.0.2.1]", Verb::kHelo, 0, "", "HELO [192.0.2.1]"},
        Case{"EHLO [IPv6:2001:db8::1]", Verb::kEhlo, 0, "", "EHLO [IPv6:2001:db8::1]"},
        Case{"EHLO", Verb::kEhlo, 501, "5.5.4", ""},
        Case{"EHLO bad host", Verb::kEhlo, 501, "5.5.2", ""},
        Case{"EHLO a..b", Verb::kEhlo, 501, "5.5.2", ""},
        Case{"MAIL FROM:<a@example.com>", Verb::kMail, 0, "", "MAIL FROM:<a@example.com>"},
        Case{"mail from:<a@example.com>", Verb::kMail, 0, "", "MAIL FROM:<a@example.com>"},
        Case{"MAIL FROM: <a@example.com>", Verb::kMail, 0, "", "MAIL FROM:<a@example.com>"},
        Case{"MAIL FROM:<>", Verb::kMail, 0, "", "MAIL FROM:<>"},
        Case{"MAIL FROM:<a@example.com> SIZE=100 body=8bitmime", Verb::kMail, 0, "",
             "MAIL FROM:<a@example.com> SIZE=100 BODY=8bitmime"},
        Case{"MAIL FROM:<@relay.example:a@example.com>", Verb::kMail, 0, "",
             "MAIL FROM:<a@example.com>"},
        Case{"MAIL FROM:<\"john doe\"@example.com>", Verb::kMail, 0, "",
             "MAIL FROM:<\"john doe\"@example.com>"},
        Case{"MAIL FROM:a@example.com", Verb::kMail, 501, "5.5.4", ""},
        Case{"MAIL TO:<a@example.com>", Verb::kMail, 501, "5.5.4", ""},
        Case{"MAIL FROM:<a@example.com", Verb::kMail, 501, "5.5.4", ""},
        Case{"MAIL FROM:<a b@example.com>", Verb::kMail, 501, "5.1.7", ""},
        Case{"MAIL FROM:<a@>", Verb::kMail, 501, "5.1.7", ""},
        Case{"MAIL FROM:<a@example.com>SIZE=1", Verb::kMail, 501, "5.5.4", ""},
        Case{"MAIL FROM:<a@example.com> =1", Verb::kMail, 501, "5.5.4", ""},
        Case{"MAIL FROM:<a@example.com> SIZE=", Verb::kMail, 501, "5.5.4", ""},
        Case{"MAIL FROM:<" + std::string(65, 'x') + "@example.com>", Verb::kMail, 501, "5.1.7", ""},
        Case{"MAIL FROM:<a@" + std::string(300, 'x') + ">", Verb::kMail, 501, "5.5.4", ""},
        Case{"RCPT TO:<b@example.com>", Verb::kRcpt, 0, "", "RCPT TO:<b@example.com>"},
        Case{"RCPT TO:<Postmaster>", Verb::kRcpt, 0, "", "RCPT TO:<Postmaster>"},
        Case{"RCPT TO:<>", Verb::kRcpt, 501, "5.1.3", ""},
        Case{"RCPT TO:<b>", Verb::kRcpt, 501, "5.1.3", ""},
        Case{"RCPT FROM:<b@example.com>", Verb::kRcpt, 501, "5.5.4", ""},
        Case{"DATA", Verb::kData, 0, "", "DATA"}, Case{"data", Verb::kData, 0, "", "DATA"},
        Case{"DATA now", Verb::kData, 501, "5.5.4", ""}, Case{"RSET", Verb::kRset, 0, "", "RSET"},
        Case{"QUIT", Verb::kQuit, 0, "", "QUIT"}, Case{"QUIT now", Verb::kQuit, 501, "5.5.4", ""},
        Case{"NOOP anything goes", Verb::kNoop, 0, "", "NOOP anything goes"},
        Case{"VRFY", Verb::kVrfy, 501, "5.5.4", ""},
        Case{"STARTTLS", Verb::kStartTls, 0, "", "STARTTLS"},
        Case{"STARTTLS x", Verb::kStartTls, 501, "5.5.4", ""},
        Case{"AUTH", Verb::kAuth, 501, "5.5.4", ""},
        Case{"BDAT 100", Verb::kBdat, 0, "", "BDAT 100"},
        Case{"BDAT 0 LAST", Verb::kBdat, 0, "", "BDAT 0 LAST"},
        Case{"BDAT x", Verb::kBdat, 501, "5.5.4", ""},
        Case{"BDAT 10 FIRST", Verb::kBdat, 501, "5.5.4", ""},
        Case{"BDAT 1234567890123456789", Verb::kBdat, 501, "5.5.4", ""},
        Case{"XFOO bar", Verb::kUnknown, 0, "", "XFOO bar"},
        Case{"", Verb::kUnknown, 500, "5.5.2", ""}, Case{"   ", Verb::kUnknown, 500, "5.5.2", ""},
        Case{std::string("NOOP\0x", 6), Verb::kUnknown, 500, "5.5.2", ""},
        Case{"MAIL FROM:<j\xc3\xb6rg@example.com>", Verb::kUnknown, 500, "5.5.2", ""},
        Case{"NOOP\x7f", Verb::kUnknown, 500, "5.5.2", ""}));

TEST(CommandParser, KeepsKeywordAndArgumentForEvents) {
  const Command cmd = ParseCommand("rcpt   TO:<b@example.com>  ");
  EXPECT_EQ(cmd.keyword, "RCPT");
  EXPECT_EQ(cmd.argument, "TO:<b@example.com>");
  EXPECT_EQ(cmd.line, "rcpt   TO:<b@example.com>  ");
  EXPECT_EQ(cmd.address, "b@example.com");
}

TEST(CommandParser, BdatSizeAndLast) {
  const Command cmd = ParseCommand("BDAT 512 last");
  ASSERT_FALSE(cmd.error);
  EXPECT_EQ(cmd.chunk_size, 512u);
  EXPECT_TRUE(cmd.last_chunk);
}

TEST(CommandParser, MailParametersSupported) {
  uint64_t size = 0;
  auto params = ParseCommand("MAIL FROM:<a@b.c> SIZE=42 BODY=8BITMIME").parameters;
  EXPECT_FALSE(CheckMailParameters(params, true, &size));
  EXPECT_EQ(size, 42u);
  params = ParseCommand("MAIL FROM:<a@b.c> SMTPUTF8").parameters;
  auto error = CheckMailParameters(params, true, &size);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, 555);
  params = ParseCommand("MAIL FROM:<a@b.c> SIZE=abc").parameters;
  ASSERT_TRUE(CheckMailParameters(params, true, &size));
  params = ParseCommand("MAIL FROM:<a@b.c> BODY=BINARYMIME").parameters;
  ASSERT_TRUE(CheckMailParameters(params, true, &size));
}

}  // namespace
}  // namespace smtpbridge::proxy
