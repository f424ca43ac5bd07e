// The circuit breaker, on its own and inside the sink, under simulated time.
#include <gtest/gtest.h>

#include "core/circuit_breaker.h"
#include "sink_test_util.h"

namespace smtpbridge::sink::testing {
namespace {

using Admission = CircuitBreaker::Admission;
using State = CircuitBreaker::State;
using std::chrono::microseconds;
using std::chrono::milliseconds;

BreakerOptions Breaker(uint32_t threshold, milliseconds open_for) {
  BreakerOptions o;
  o.failure_threshold = threshold;
  o.open_for = open_for;
  return o;
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresOnly) {
  CircuitBreaker b(Breaker(3, milliseconds(100)));
  const SteadyTime t{std::chrono::hours(1)};
  b.OnFailure(b.Allow(t), t);
  b.OnFailure(b.Allow(t), t);
  b.OnSuccess(b.Allow(t), t);  // resets the run
  b.OnFailure(b.Allow(t), t);
  b.OnFailure(b.Allow(t), t);
  EXPECT_EQ(b.state(), State::kClosed);
  b.OnFailure(b.Allow(t), t);
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.Allow(t + milliseconds(99)), Admission::kRejected);
}

TEST(CircuitBreaker, HalfOpenLetsOneProbeThroughAndItsSuccessCloses) {
  CircuitBreaker b(Breaker(1, milliseconds(100)));
  const SteadyTime t{std::chrono::hours(1)};
  b.OnFailure(b.Allow(t), t);
  const SteadyTime later = t + milliseconds(100);
  EXPECT_EQ(b.Allow(later), Admission::kProbe);
  EXPECT_EQ(b.state(), State::kHalfOpen);
  EXPECT_EQ(b.Allow(later), Admission::kRejected);  // one probe at a time
  b.OnSuccess(Admission::kProbe, later);
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.Allow(later), Admission::kAllowed);
}

TEST(CircuitBreaker, FailedProbeReopensForAnotherCoolDown) {
  CircuitBreaker b(Breaker(1, milliseconds(100)));
  const SteadyTime t{std::chrono::hours(1)};
  b.OnFailure(b.Allow(t), t);
  const SteadyTime probe_time = t + milliseconds(150);
  ASSERT_EQ(b.Allow(probe_time), Admission::kProbe);
  b.OnFailure(Admission::kProbe, probe_time);
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.Allow(probe_time + milliseconds(99)), Admission::kRejected);
  EXPECT_EQ(b.Allow(probe_time + milliseconds(100)), Admission::kProbe);
}

TEST(CircuitBreaker, StragglersDoNotDecideWhileOpen) {
  CircuitBreaker b(Breaker(1, milliseconds(100)));
  const SteadyTime t{std::chrono::hours(1)};
  const Admission straggler = b.Allow(t);
  b.OnFailure(b.Allow(t), t);
  ASSERT_EQ(b.state(), State::kOpen);
  b.OnSuccess(straggler, t);  // an old call, admitted while closed
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, DisabledAlwaysAllows) {
  BreakerOptions o = Breaker(1, milliseconds(100));
  o.enabled = false;
  CircuitBreaker b(o);
  const SteadyTime t{std::chrono::hours(1)};
  for (int i = 0; i < 5; ++i) b.OnFailure(b.Allow(t), t);
  EXPECT_EQ(b.Allow(t), Admission::kAllowed);
}

TEST(SinkBreaker, OpenBreakerAnswersInlineWithoutAskingTheDispatcher) {
  SinkOptions o = QuietOptions();
  o.breaker = Breaker(2, milliseconds(50));
  Harness h(o);
  Recorder r;
  for (int i = 0; i < 2; ++i) {
    h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
    h.timers->Advance(microseconds(1000));
  }
  ASSERT_EQ(r.count(), 2u);
  EXPECT_EQ(h.sink->breaker().state(), State::kOpen);
  EXPECT_EQ(h.sink->metrics().breaker_opened(), 1);

  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  ASSERT_EQ(r.count(), 3u);  // answered inside Evaluate(), no time passed
  EXPECT_EQ(r.at(2).reason, FallbackReason::kCircuitOpen);
  EXPECT_EQ(r.at(2).latency, microseconds(0));
  EXPECT_EQ(h.fake->evaluation_count(), 2u);  // the dispatcher was not asked
  EXPECT_EQ(h.sink->metrics().fallbacks(FallbackReason::kCircuitOpen), 1);
}

TEST(SinkBreaker, ProbeAfterCoolDownClosesOnSuccess) {
  SinkOptions o = QuietOptions();
  o.breaker = Breaker(1, milliseconds(50));
  Harness h(o);
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  h.fake->Fail(0, grpc::StatusCode::UNAVAILABLE);
  ASSERT_EQ(h.sink->breaker().state(), State::kOpen);
  h.timers->Advance(milliseconds(50));

  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());  // the probe
  ASSERT_EQ(h.fake->evaluation_count(), 2u);
  EXPECT_EQ(h.sink->breaker().state(), State::kHalfOpen);
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());  // while probing
  EXPECT_EQ(r.at(1).reason, FallbackReason::kCircuitOpen);
  EXPECT_EQ(h.fake->evaluation_count(), 2u);

  h.fake->Answer(1, MakeVerdict(v1::ACTION_CONTINUE));
  EXPECT_EQ(h.sink->breaker().state(), State::kClosed);
  EXPECT_EQ(r.at(2).source, VerdictSource::kDispatcher);
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  EXPECT_EQ(h.fake->evaluation_count(), 3u);
  h.fake->Answer(2, MakeVerdict(v1::ACTION_CONTINUE));
}

TEST(SinkBreaker, ProbeThatTimesOutReopens) {
  SinkOptions o = QuietOptions();
  o.breaker = Breaker(1, milliseconds(50));
  Harness h(o);
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  h.fake->Fail(0, grpc::StatusCode::UNAVAILABLE);
  h.timers->Advance(milliseconds(50));
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());  // the probe
  h.timers->Advance(microseconds(1000));
  EXPECT_EQ(r.at(1).reason, FallbackReason::kBudgetExceeded);
  EXPECT_EQ(h.sink->breaker().state(), State::kOpen);
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  EXPECT_EQ(r.at(2).reason, FallbackReason::kCircuitOpen);
  EXPECT_EQ(h.sink->metrics().breaker_opened(), 2);
}

}  // namespace
}  // namespace smtpbridge::sink::testing
