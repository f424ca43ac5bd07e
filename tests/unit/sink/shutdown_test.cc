// Shutdown: pending evaluations answer at once from the fallback, later ones too.
#include <gtest/gtest.h>

#include "sink_test_util.h"

namespace smtpbridge::sink::testing {
namespace {

using std::chrono::microseconds;

TEST(SinkShutdown, PendingEvaluationsAnswerAtOnceWithShutdown) {
  SinkOptions o = QuietOptions();
  o.default_verdicts[v1::EVENT_TYPE_INBOUND_COMMAND] = MakeVerdict(v1::ACTION_TEMPFAIL, 421);
  Harness h(o);
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(5000), r.Callback());
  h.sink->Evaluate(Rcpt("b@example.com"), microseconds(5000), r.Callback());
  ASSERT_EQ(r.count(), 0u);
  h.sink->Shutdown();
  ASSERT_EQ(r.count(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(r.at(i).reason, FallbackReason::kShutdown);
    EXPECT_EQ(r.at(i).verdict.action(), v1::ACTION_TEMPFAIL);
  }
  EXPECT_EQ(h.fake->evaluation(0)->cancels(), 1);
  EXPECT_EQ(h.fake->evaluation(1)->cancels(), 1);
  EXPECT_EQ(h.sink->in_flight(), 0u);
  // Nothing fires later: the timers were dropped.
  h.timers->Advance(microseconds(10000));
  EXPECT_EQ(r.count(), 2u);
}

TEST(SinkShutdown, LaterCallsAnswerInlineWithShutdown) {
  Harness h;
  h.sink->Shutdown();
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(5000), r.Callback());
  ASSERT_EQ(r.count(), 1u);
  EXPECT_EQ(r.at(0).reason, FallbackReason::kShutdown);
  EXPECT_EQ(h.fake->evaluation_count(), 0u);
  EXPECT_EQ(h.sink->metrics().fallbacks(FallbackReason::kShutdown), 1);
}

TEST(SinkShutdown, CancelsLateCallsAndTheInterestsCallSoNoCallbackOutlivesTheSink) {
  SinkOptions o = QuietOptions();
  o.interests.enabled = true;
  o.keep_late_answers = true;
  Harness h(o);
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(100), r.Callback());
  h.timers->Advance(microseconds(100));  // budget ran out; the call is kept for a late answer
  ASSERT_EQ(r.count(), 1u);
  EXPECT_EQ(h.fake->evaluation(0)->cancels(), 0);
  EXPECT_EQ(h.sink->in_flight(), 1u);
  h.sink->Shutdown();
  EXPECT_EQ(h.fake->evaluation(0)->cancels(), 1);
  EXPECT_TRUE(h.fake->interests_call(0)->finished());
  EXPECT_EQ(h.sink->in_flight(), 0u);
  EXPECT_EQ(r.count(), 1u);
}

TEST(SinkShutdown, IsIdempotentAndDestructionAfterItIsSafe) {
  Harness h;
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(5000), r.Callback());
  h.sink->Shutdown();
  h.sink->Shutdown();
  h.sink.reset();
  EXPECT_EQ(r.count(), 1u);
}

}  // namespace
}  // namespace smtpbridge::sink::testing
