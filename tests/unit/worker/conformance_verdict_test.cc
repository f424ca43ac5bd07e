#include "conformance_verdict.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace smtpbridge::conformance {
namespace {

using worker::EventContext;

v1::SinkRequest WithProperties(std::map<std::string, std::string> props) {
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  for (auto& [k, v] : props) (*r.mutable_binding()->mutable_sink_properties())[k] = v;
  return r;
}

v1::Verdict Build(std::map<std::string, std::string> props) {
  const auto r = WithProperties(std::move(props));
  return BuildConformanceVerdict(EventContext(r)).proto();
}

TEST(ConformanceVerdict, NoPropertiesIsAPlainContinue) {
  const auto v = Build({});
  EXPECT_EQ(v.action(), v1::ACTION_CONTINUE);
  EXPECT_FALSE(v.has_reply());
}

TEST(ConformanceVerdict, ReplyWithEnhancedCodeAndLines) {
  const auto v = Build({{"verdict", "respond"}, {"reply", "252 2.0.0 cannot verify|but will try"}});
  EXPECT_EQ(v.action(), v1::ACTION_RESPOND);
  EXPECT_EQ(v.reply().code(), 252u);
  EXPECT_EQ(v.reply().enhanced_code(), "2.0.0");
  ASSERT_EQ(v.reply().lines_size(), 2);
  EXPECT_EQ(v.reply().lines(1), "but will try");
}

TEST(ConformanceVerdict, ReplyWithoutEnhancedCodeOrText) {
  auto v = Build({{"reply", "250 swallowed"}});
  EXPECT_EQ(v.reply().enhanced_code(), "");
  ASSERT_EQ(v.reply().lines_size(), 1);
  EXPECT_EQ(v.reply().lines(0), "swallowed");
  // Not D.D{1,3}.D{1,3}: part of the text.
  v = Build({{"reply", "250 2.0 ok"}, {"verdict", "respond"}});
  EXPECT_EQ(v.reply().enhanced_code(), "");
  EXPECT_EQ(v.reply().lines(0), "2.0 ok");
  v = Build({{"reply", "550 5.7.1000 no"}});
  EXPECT_EQ(v.reply().enhanced_code(), "");
  v = Build({{"reply", "221"}});
  EXPECT_EQ(v.reply().code(), 221u);
  EXPECT_EQ(v.reply().lines_size(), 0);
}

TEST(ConformanceVerdict, EditsKeepColonsInTheLastField) {
  const auto v = Build({{"edits", "add_header:X-Url:http://a;change_header:Subject:2:;discard"}});
  ASSERT_EQ(v.edits_size(), 3);
  EXPECT_EQ(v.edits(0).add_header().value(), "http://a");
  EXPECT_EQ(v.edits(1).change_header().occurrence(), 2u);
  EXPECT_EQ(v.edits(1).change_header().value(), "");
  EXPECT_EQ(v.edits(2).edit_case(), v1::MessageEdit::kDiscard);
}

TEST(ConformanceVerdict, CacheTagsAppendAndState) {
  const auto v = Build({{"cache_ttl_ms", "1500"},
                        {"cache_scope", "recipient"},
                        {"tags", "a,b"},
                        {"append", " NOTIFY=NEVER"},
                        {"next_state", "SESSION_END"}});
  EXPECT_EQ(v.cache_ttl().seconds(), 1);
  EXPECT_EQ(v.cache_scope(), v1::CACHE_SCOPE_RECIPIENT);
  ASSERT_EQ(v.tags_size(), 2);
  EXPECT_EQ(v.command().append(), " NOTIFY=NEVER");
  EXPECT_EQ(v.next_state(), v1::OUTBOUND_STATE_SESSION_END);
}

TEST(ConformanceVerdict, EchoReason) {
  auto r = WithProperties({{"reason", "@echo"}});
  r.mutable_event()->mutable_command()->set_keyword("RCPT");
  r.mutable_event()->mutable_envelope()->add_recipients("a@b");
  r.mutable_event()->mutable_session()->set_instance(3);
  r.mutable_binding()->set_name("b1");
  EXPECT_EQ(BuildConformanceVerdict(EventContext(r)).proto().reason(),
            "type=INBOUND_COMMAND;keyword=RCPT;arg=;sender=;rcpt=;rcpts=1;client=;helo=;headers=0;"
            "body=0;binding=b1;instance=3");
}

TEST(ConformanceVerdict, FailAndGarbageThrow) {
  EXPECT_THROW(Build({{"fail", "1"}}), std::runtime_error);
  EXPECT_THROW(Build({{"verdict", "maybe"}}), std::invalid_argument);
  EXPECT_THROW(Build({{"edits", "explode:now"}}), std::invalid_argument);
  EXPECT_THROW(Build({{"cache_ttl_ms", "soon"}}), std::invalid_argument);
}

}  // namespace
}  // namespace smtpbridge::conformance
