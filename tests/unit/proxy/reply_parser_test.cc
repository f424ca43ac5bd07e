// Next-hop reply parsing, line reading and reply formatting.
#include "reply_parser.h"

#include <gtest/gtest.h>

#include "line_reader.h"
#include "smtp_reply.h"

namespace smtpbridge::proxy {
namespace {

TEST(ReplyParser, SingleLineWithEnhancedCode) {
  ReplyParser p;
  ASSERT_EQ(p.Feed("250 2.1.0 Ok"), ReplyParser::Status::kComplete);
  Reply r = p.Take();
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.enhanced, "2.1.0");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "Ok");
  EXPECT_EQ(r.Wire(), "250 2.1.0 Ok\r\n");
}

TEST(ReplyParser, MultiLine) {
  ReplyParser p;
  EXPECT_EQ(p.Feed("250-mx.example"), ReplyParser::Status::kNeedMore);
  EXPECT_EQ(p.Feed("250-PIPELINING"), ReplyParser::Status::kNeedMore);
  ASSERT_EQ(p.Feed("250 8BITMIME"), ReplyParser::Status::kComplete);
  Reply r = p.Take();
  EXPECT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.enhanced, "");
  EXPECT_EQ(r.Wire(), "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
}

TEST(ReplyParser, BareCodeAndClassMismatchEnhanced) {
  ReplyParser p;
  ASSERT_EQ(p.Feed("354"), ReplyParser::Status::kComplete);
  EXPECT_EQ(p.Take().code, 354);
  ASSERT_EQ(p.Feed("550 4.1.1 odd"), ReplyParser::Status::kComplete);
  Reply r = p.Take();
  EXPECT_EQ(r.enhanced, "");  // class 4 does not match 550
  EXPECT_EQ(r.lines[0], "4.1.1 odd");
}

TEST(ReplyParser, Malformed) {
  for (const std::string& line : std::vector<std::string>{"25", "abc def", "250x", "199 too low",
                                                          "600 too high", std::string(3000, '2')}) {
    ReplyParser p;
    EXPECT_EQ(p.Feed(line), ReplyParser::Status::kMalformed) << line;
  }
  ReplyParser p;
  EXPECT_EQ(p.Feed("250-a"), ReplyParser::Status::kNeedMore);
  EXPECT_EQ(p.Feed("251 b"), ReplyParser::Status::kMalformed);
}

TEST(ReplyParser, TooManyLines) {
  ReplyParser p;
  ReplyParser::Status s = ReplyParser::Status::kNeedMore;
  for (size_t i = 0; i < ReplyParser::kMaxLines + 1 && s == ReplyParser::Status::kNeedMore; ++i)
    s = p.Feed("250-x");
  EXPECT_EQ(s, ReplyParser::Status::kMalformed);
}

TEST(LineReader, SplitsOnCrlfOnly) {
  LineReader r(512);
  r.Append("NOOP\r\nA\nB\r\nC\rD\r\npart");
  auto l = r.Next();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->text, "NOOP");
  EXPECT_FALSE(l->bare_cr_or_lf);
  l = r.Next();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->text, "A\nB");
  EXPECT_TRUE(l->bare_cr_or_lf);
  l = r.Next();
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->bare_cr_or_lf);
  EXPECT_FALSE(r.Next());
  r.Append("ial\r");
  EXPECT_FALSE(r.Next());
  r.Append("\n");
  l = r.Next();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->text, "partial");
}

TEST(LineReader, OverlongLineIsDroppedNotBuffered) {
  LineReader r(512);
  for (int i = 0; i < 100; ++i) {
    r.Append(std::string(100, 'x'));
    EXPECT_FALSE(r.Next());
    EXPECT_LE(r.buffered(), 513u);
  }
  r.Append("\r\nNOOP\r\n");
  auto l = r.Next();
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->too_long);
  l = r.Next();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->text, "NOOP");
}

TEST(LineReader, LimitCountsTheCrlf) {
  LineReader r(10);
  r.Append(std::string(8, 'a') + "\r\n" + std::string(9, 'b') + "\r\n");
  auto l = r.Next();
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->too_long);
  l = r.Next();
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->too_long);
}

TEST(LineReader, ClearDropsPipelinedBytes) {
  LineReader r(512);
  r.Append("STARTTLS\r\nMAIL FROM:<evil@x>\r\n");
  ASSERT_TRUE(r.Next());
  r.Clear();
  EXPECT_FALSE(r.Next());
  EXPECT_EQ(r.buffered(), 0u);
}

}  // namespace
}  // namespace smtpbridge::proxy
