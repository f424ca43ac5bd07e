#include "smtpbridge/worker/event_context.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "smtpbridge/worker/address.h"

namespace smtpbridge::worker {
namespace {

using namespace std::chrono_literals;

v1::SinkRequest EodRequest() {
  v1::SinkRequest r;
  auto* e = r.mutable_event();
  e->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  e->mutable_command()->set_keyword("_EOD");
  e->mutable_envelope()->set_sender("from@example.com");
  e->mutable_session()->mutable_client()->set_address("192.0.2.7");
  e->mutable_session()->set_helo_name("mx.example.net");
  auto* h = e->mutable_message()->add_headers();
  h->set_name("Received");
  h->set_value("one");
  h = e->mutable_message()->add_headers();
  h->set_name("Subject");
  h->set_value("hello");
  h = e->mutable_message()->add_headers();
  h->set_name("RECEIVED");
  h->set_value("two");
  (*r.mutable_binding()->mutable_sink_properties())["mode"] = "strict";
  return r;
}

TEST(EventContext, TypedAccessors) {
  const auto r = EodRequest();
  EventContext ctx(r);
  EXPECT_EQ(ctx.type(), v1::EVENT_TYPE_INBOUND_COMMAND);
  EXPECT_EQ(ctx.keyword(), "_EOD");
  EXPECT_EQ(ctx.sender(), "from@example.com");
  EXPECT_EQ(ctx.client_address(), "192.0.2.7");
  EXPECT_EQ(ctx.helo(), "mx.example.net");
}

TEST(EventContext, HeadersAreCaseInsensitiveAndOrdered) {
  const auto r = EodRequest();
  EventContext ctx(r);
  EXPECT_EQ(ctx.header("subject"), "hello");
  EXPECT_FALSE(ctx.header("X-Missing").has_value());
  const auto received = ctx.headers("received");
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0], "one");
  EXPECT_EQ(received[1], "two");
}

TEST(EventContext, PropertiesWithAndWithoutFallback) {
  const auto r = EodRequest();
  EventContext ctx(r);
  EXPECT_EQ(ctx.property("mode"), "strict");
  EXPECT_FALSE(ctx.property("absent").has_value());
  EXPECT_EQ(ctx.property("absent", "lenient"), "lenient");
}

TEST(EventContext, RecipientFromEnvelopeIndexOrArgument) {
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  r.mutable_event()->mutable_command()->set_keyword("RCPT");
  r.mutable_event()->mutable_command()->set_argument("TO:<arg@example.com> NOTIFY=NEVER");
  EXPECT_EQ(EventContext(r).recipient(), "arg@example.com");
  r.mutable_event()->mutable_envelope()->set_recipient("env@example.com");
  EXPECT_EQ(EventContext(r).recipient(), "env@example.com");

  v1::SinkRequest out;
  out.mutable_event()->set_type(v1::EVENT_TYPE_PER_RECIPIENT);
  out.mutable_event()->mutable_envelope()->add_recipients("a@x");
  out.mutable_event()->mutable_envelope()->add_recipients("b@x");
  out.mutable_event()->mutable_envelope()->set_recipient_index(1);
  EXPECT_EQ(EventContext(out).recipient(), "b@x");
  out.mutable_event()->mutable_envelope()->set_recipient_index(7);
  EXPECT_EQ(EventContext(out).recipient(), "");
}

TEST(EventContext, TimeLeftComesFromTheDeadlineAndNeverGoesNegative) {
  v1::SinkRequest r;
  EXPECT_EQ(EventContext(r).time_left(), std::chrono::nanoseconds::max());
  const auto now = EventContext::Clock::now();
  EXPECT_EQ(EventContext(r, now - 1s).time_left(), 0ns);
  EXPECT_GT(EventContext(r, now + 1h).time_left(), 30min);
  r.mutable_time_left()->set_seconds(3600);
  EXPECT_GT(EventContext(r).time_left(), 30min);
}

TEST(EventContext, PropertyListAndInt) {
  v1::SinkRequest r;
  auto& props = *r.mutable_binding()->mutable_sink_properties();
  props["blocked"] = " a@example.com, B@Example.com,, ";
  props["limit"] = "42";
  props["bad"] = "4x";
  EventContext ctx(r);
  EXPECT_EQ(ctx.property_list("blocked"),
            (std::vector<std::string>{"a@example.com", "B@Example.com"}));
  EXPECT_TRUE(ctx.property_list("missing").empty());
  EXPECT_EQ(ctx.property_int("limit", 7), 42);
  EXPECT_EQ(ctx.property_int("missing", 7), 7);
  EXPECT_THROW(ctx.property_int("bad", 7), std::invalid_argument);
}

// As binding rules compare addresses: case-insensitively, angle brackets and blanks dropped.
TEST(Address, SameAddressAndAddressIn) {
  EXPECT_TRUE(SameAddress("<Bob@Example.COM>", " bob@example.com"));
  EXPECT_FALSE(SameAddress("bob@example.com", "bob@example.net"));
  const std::vector<std::string> blocked{"a@example.com", "B@Example.com"};
  EXPECT_TRUE(AddressIn("b@EXAMPLE.com", blocked));
  EXPECT_TRUE(AddressIn("<A@example.com>", blocked));
  EXPECT_FALSE(AddressIn("c@example.com", blocked));
  EXPECT_FALSE(AddressIn("<>", {""}));
}

}  // namespace
}  // namespace smtpbridge::worker
