// Wants()/BodyLimit(): unknown means wanted; the background refresh follows refresh_after.
#include <gtest/gtest.h>

#include "sink_test_util.h"

namespace smtpbridge::sink::testing {
namespace {

using std::chrono::milliseconds;

v1::GetInterestsResponse SomeInterests(int64_t refresh_ms) {
  v1::GetInterestsResponse r;
  r.set_generation(7);
  r.mutable_refresh_after()->set_nanos(static_cast<int32_t>(refresh_ms * 1000000));
  auto* rcpt = r.add_interests();
  rcpt->set_instance(1);
  rcpt->set_event(v1::EVENT_TYPE_INBOUND_COMMAND);
  rcpt->add_keywords("RCPT");
  rcpt->add_keywords("_eod");
  rcpt->set_body_limit(4096);
  auto* connect = r.add_interests();
  connect->set_instance(0);  // every instance
  connect->set_event(v1::EVENT_TYPE_CONNECT);
  return r;
}

SinkOptions WithInterests() {
  SinkOptions o = QuietOptions();
  o.interests.enabled = true;
  o.interests.retry_after = milliseconds(300);
  o.interests.unknown_body_limit = 1234;
  return o;
}

TEST(SinkInterests, UnknownMeansWanted) {
  Harness h(WithInterests());
  EXPECT_FALSE(h.sink->interests_known());
  EXPECT_TRUE(h.sink->Wants(1, v1::EVENT_TYPE_SERVER_RESPONSE, ""));
  EXPECT_TRUE(h.sink->Wants(9, v1::EVENT_TYPE_INBOUND_COMMAND, "NOOP"));
  EXPECT_EQ(h.sink->BodyLimit(1), 1234u);
}

TEST(SinkInterests, AnswerDecidesWantsAndBodyLimit) {
  Harness h(WithInterests());
  ASSERT_EQ(h.fake->interests_count(), 1u);
  h.fake->interests_call(0)->Finish(grpc::Status::OK, SomeInterests(500));
  EXPECT_TRUE(h.sink->interests_known());
  EXPECT_TRUE(h.sink->Wants(1, v1::EVENT_TYPE_INBOUND_COMMAND, "rcpt"));
  EXPECT_TRUE(h.sink->Wants(1, v1::EVENT_TYPE_INBOUND_COMMAND, "_EOD"));
  EXPECT_TRUE(h.sink->Wants(1, v1::EVENT_TYPE_INBOUND_COMMAND, ""));  // "any keyword?"
  EXPECT_FALSE(h.sink->Wants(1, v1::EVENT_TYPE_INBOUND_COMMAND, "NOOP"));
  EXPECT_FALSE(h.sink->Wants(2, v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT"));
  EXPECT_TRUE(h.sink->Wants(2, v1::EVENT_TYPE_CONNECT, ""));
  EXPECT_FALSE(h.sink->Wants(1, v1::EVENT_TYPE_SERVER_RESPONSE, ""));
  EXPECT_EQ(h.sink->BodyLimit(1), 4096u);
  EXPECT_EQ(h.sink->BodyLimit(2), 0u);
  EXPECT_EQ(h.sink->metrics().interests_refreshes(true), 1);
}

TEST(SinkInterests, RefreshFollowsRefreshAfterAndRetriesAfterFailure) {
  Harness h(WithInterests());
  h.fake->interests_call(0)->Finish(grpc::Status::OK, SomeInterests(500));
  h.timers->Advance(milliseconds(499));
  EXPECT_EQ(h.fake->interests_count(), 1u);
  h.timers->Advance(milliseconds(1));
  ASSERT_EQ(h.fake->interests_count(), 2u);
  // A failed refresh keeps the last answer and retries after retry_after.
  h.fake->interests_call(1)->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"), {});
  EXPECT_FALSE(h.sink->Wants(1, v1::EVENT_TYPE_INBOUND_COMMAND, "NOOP"));
  EXPECT_EQ(h.sink->metrics().interests_refreshes(false), 1);
  h.timers->Advance(milliseconds(299));
  EXPECT_EQ(h.fake->interests_count(), 2u);
  h.timers->Advance(milliseconds(1));
  EXPECT_EQ(h.fake->interests_count(), 3u);
}

}  // namespace
}  // namespace smtpbridge::sink::testing
