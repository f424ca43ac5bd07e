// The message kept for `_EOD`: exact bytes when untouched, header edits, body for events.
#include "message_data.h"

#include <gtest/gtest.h>

namespace smtpbridge::proxy {
namespace {

const std::string kRaw =
    "Subject: hello\r\n"
    "X-Long: a\r\n"
    " b\r\n"
    "Received: one\r\n"
    "Received: two\r\n"
    "\r\n"
    "..dot line\r\n"
    "body\r\n";

TEST(MessageData, UntouchedIsByteExact) {
  MessageData m(kRaw);
  EXPECT_FALSE(m.edited());
  EXPECT_EQ(m.Wire(), kRaw);
  EXPECT_EQ(m.size(), kRaw.size() - 1);  // one stuffed dot
}

TEST(MessageData, HeadersAndUnstuffedBody) {
  MessageData m(kRaw);
  auto headers = m.HeaderValues();
  ASSERT_EQ(headers.size(), 4u);
  EXPECT_EQ(headers[0].first, "Subject");
  EXPECT_EQ(headers[0].second, "hello");
  EXPECT_EQ(headers[1].second, "a\r\n b");
  bool truncated = true;
  EXPECT_EQ(m.Body(1000, &truncated), ".dot line\r\nbody\r\n");
  EXPECT_FALSE(truncated);
  EXPECT_EQ(m.Body(4, &truncated), ".dot");
  EXPECT_TRUE(truncated);
}

TEST(MessageData, Edits) {
  MessageData m(kRaw);
  std::string why;
  ASSERT_TRUE(m.AddHeader("X-Policy", "checked", &why));
  ASSERT_TRUE(m.InsertHeader(0, "X-First", "1", &why));
  ASSERT_TRUE(m.ChangeHeader("received", 2, "changed", &why));
  ASSERT_TRUE(m.ChangeHeader("Subject", 0, "", &why));  // delete
  ASSERT_TRUE(m.ChangeHeader("X-Missing", 1, "added", &why));
  EXPECT_EQ(m.Wire(),
            "X-First: 1\r\nX-Long: a\r\n b\r\nReceived: one\r\nReceived: changed\r\n"
            "X-Policy: checked\r\nX-Missing: added\r\n\r\n..dot line\r\nbody\r\n");
}

TEST(MessageData, RefusesInjection) {
  MessageData m(kRaw);
  std::string why;
  EXPECT_FALSE(m.AddHeader("X-Evil", "a\r\n.\r\nMAIL FROM:<x@y>", &why));
  EXPECT_FALSE(m.AddHeader("X-Evil", "a\nb", &why));
  EXPECT_FALSE(m.AddHeader("Bad Name", "v", &why));
  EXPECT_FALSE(m.AddHeader("Bad:Name", "v", &why));
  EXPECT_TRUE(m.AddHeader("X-Folded", "a\r\n b", &why));
  EXPECT_FALSE(m.edited() && m.Wire().find("MAIL FROM") != std::string::npos);
}

TEST(MessageData, ReplaceBodyStuffsAndNormalises) {
  MessageData m("Subject: x\r\n\r\nold\r\n");
  m.ReplaceBody(".new\nline");
  EXPECT_EQ(m.Wire(), "Subject: x\r\n\r\n..new\r\nline\r\n");
}

TEST(MessageData, NoHeaderSection) {
  MessageData m("just a body line\r\n");
  EXPECT_TRUE(m.HeaderValues().empty());
  std::string why;
  ASSERT_TRUE(m.AddHeader("X-A", "1", &why));
  EXPECT_EQ(m.Wire(), "X-A: 1\r\njust a body line\r\n");
}

}  // namespace
}  // namespace smtpbridge::proxy
