// A dispatcher that sheds an event (over a limit) gets the sink's fallback with reason `shed`,
// counted apart, kept out of the breaker's failure counts and out of the caches; both forms of
// the marker (unary RESOURCE_EXHAUSTED, stream response) are understood.
#include "smtpbridge/v1/shed.h"

#include <gtest/gtest.h>

#include "sink_test_util.h"

namespace smtpbridge::sink::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

SinkOptions Options() {
  SinkOptions o = QuietOptions();
  o.breaker.failure_threshold = 3;
  o.breaker.open_for = milliseconds(100);
  o.default_verdict = MakeVerdict(v1::ACTION_CONTINUE);
  return o;
}

Evaluation Shed(Harness& h, bool stream_form) {
  Recorder r;
  const std::size_t i = h.fake->evaluation_count();
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(5000), r.Callback());
  if (stream_form) {
    EXPECT_TRUE(h.fake->evaluation(i)->Finish(grpc::Status::OK, v1::ShedResponse("in_flight")));
  } else {
    EXPECT_TRUE(
        h.fake->evaluation(i)->Finish(v1::ShedStatus("pool_limit"), v1::EvaluateResponse()));
  }
  return r.at(0);
}

TEST(SinkShed, BothFormsAnswerFromTheFallbackWithReasonShed) {
  Harness h(Options());
  for (const bool stream_form : {false, true}) {
    const Evaluation e = Shed(h, stream_form);
    EXPECT_EQ(e.reason, FallbackReason::kShed);
    EXPECT_EQ(e.source, VerdictSource::kDefault);
    // The fallback's verdict, not the marker's TEMPFAIL.
    EXPECT_EQ(e.verdict.action(), v1::ACTION_CONTINUE);
    EXPECT_TRUE(e.decided_by.empty());
  }
  EXPECT_EQ(h.sink->metrics().fallbacks(FallbackReason::kShed), 2);
  EXPECT_EQ(h.sink->metrics().fallbacks(FallbackReason::kError), 0);
  EXPECT_EQ(h.sink->stale_cache().size(), 0u);
  EXPECT_EQ(FallbackReasonName(FallbackReason::kShed), "shed");
}

TEST(SinkShed, ShedsNeverOpenTheBreaker) {
  Harness h(Options());
  for (int i = 0; i < 20; ++i) Shed(h, i % 2 == 0);
  EXPECT_EQ(h.sink->breaker().state(), CircuitBreaker::State::kClosed);
  EXPECT_EQ(h.sink->breaker().consecutive_failures(), 0u);
  // Other RESOURCE_EXHAUSTED answers (no marker) are errors as before.
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(5000), r.Callback());
  h.fake->Fail(h.fake->evaluation_count() - 1, grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.at(0).reason, FallbackReason::kError);
}

TEST(SinkShed, AShedProbeClosesTheBreaker) {
  Harness h(Options());
  for (int i = 0; i < 3; ++i) {
    Recorder r;
    h.sink->Evaluate(Rcpt("a@example.com"), microseconds(5000), r.Callback());
    h.fake->Fail(h.fake->evaluation_count() - 1, grpc::StatusCode::UNAVAILABLE);
  }
  ASSERT_EQ(h.sink->breaker().state(), CircuitBreaker::State::kOpen);
  h.timers->Advance(milliseconds(100));
  const Evaluation e = Shed(h, true);  // the half-open probe reaches a live, busy dispatcher
  EXPECT_EQ(e.reason, FallbackReason::kShed);
  EXPECT_EQ(h.sink->breaker().state(), CircuitBreaker::State::kClosed);
}

}  // namespace
}  // namespace smtpbridge::sink::testing
