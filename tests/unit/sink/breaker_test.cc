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

TEST(CircuitBreaker, TimeoutsCountOnlyThroughTheRate) {
  BreakerOptions o = Breaker(3, milliseconds(100));
  o.failure_rate_percent = 50;
  o.failure_rate_min_calls = 20;
  o.failure_rate_window = milliseconds(10000);
  CircuitBreaker b(o);
  const SteadyTime t{std::chrono::hours(1)};
  b.OnSuccess(b.Allow(t), t);
  // A run of timeouts far longer than failure_threshold, but fewer calls than the minimum.
  for (int i = 0; i < 18; ++i) b.OnTimeout(b.Allow(t), t);
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.consecutive_failures(), 0u);
  EXPECT_EQ(b.window_failures(t), 18u);
  b.OnTimeout(b.Allow(t), t);  // 19 of 20
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, TimeoutsBelowTheRateKeepItClosed) {
  BreakerOptions o = Breaker(3, milliseconds(100));
  o.failure_rate_percent = 50;
  o.failure_rate_min_calls = 20;
  CircuitBreaker b(o);
  SteadyTime t{std::chrono::hours(1)};
  // An overload: 40 % of calls miss the budget, in runs of 4, for 30 s.
  for (int round = 0; round < 300; ++round) {
    for (int i = 0; i < 6; ++i) b.OnSuccess(b.Allow(t), t);
    for (int i = 0; i < 4; ++i) b.OnTimeout(b.Allow(t), t);
    t += milliseconds(100);
  }
  EXPECT_EQ(b.state(), State::kClosed);
  // Then most calls miss: the rate crosses 50 % within the window and it opens.
  for (int i = 0; i < 200 && b.state() == State::kClosed; ++i) {
    b.OnTimeout(b.Allow(t), t);
    t += milliseconds(10);
  }
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, OldTimeoutsLeaveTheWindow) {
  BreakerOptions o = Breaker(3, milliseconds(100));
  o.failure_rate_percent = 50;
  o.failure_rate_min_calls = 20;
  o.failure_rate_window = milliseconds(10000);
  CircuitBreaker b(o);
  const SteadyTime t{std::chrono::hours(1)};
  b.OnSuccess(b.Allow(t), t);
  for (int i = 0; i < 15; ++i) b.OnTimeout(b.Allow(t), t);
  const SteadyTime later = t + milliseconds(11000);
  EXPECT_EQ(b.window_calls(later), 0u);
  for (int i = 0; i < 15; ++i) b.OnTimeout(b.Allow(later), later);
  EXPECT_EQ(b.state(), State::kClosed);  // 15 in this window, below the 20-call minimum
  EXPECT_EQ(b.window_failures(later), 15u);
}

TEST(CircuitBreaker, TimeoutsBeforeTheFirstAnswerAreTheColdStart) {
  BreakerOptions o = Breaker(3, milliseconds(100));
  o.failure_rate_min_calls = 20;
  CircuitBreaker b(o);
  const SteadyTime t{std::chrono::hours(1)};
  for (int i = 0; i < 100; ++i) b.OnTimeout(b.Allow(t), t);
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.window_calls(t), 0u);
  // Transport failures count from the start.
  for (int i = 0; i < 3; ++i) b.OnFailure(b.Allow(t), t);
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, TimeoutsNeitherCountNorResetTransportFailures) {
  CircuitBreaker b(Breaker(3, milliseconds(100)));
  const SteadyTime t{std::chrono::hours(1)};
  b.OnFailure(b.Allow(t), t);
  b.OnFailure(b.Allow(t), t);
  b.OnTimeout(b.Allow(t), t);
  EXPECT_EQ(b.consecutive_failures(), 2u);
  b.OnFailure(b.Allow(t), t);
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreaker, ProbeThatTimesOutReopens) {
  CircuitBreaker b(Breaker(1, milliseconds(100)));
  const SteadyTime t{std::chrono::hours(1)};
  b.OnFailure(b.Allow(t), t);
  const SteadyTime probe_time = t + milliseconds(100);
  ASSERT_EQ(b.Allow(probe_time), Admission::kProbe);
  b.OnTimeout(Admission::kProbe, probe_time);
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(SinkBreaker, ColdStartBurstOfBudgetMissesDoesNotOpenIt) {
  Harness h;  // default breaker options
  Recorder r;
  // Three waves of 40 sessions' first events all miss their budget while channels connect...
  for (int wave = 0; wave < 3; ++wave) {
    for (int i = 0; i < 40; ++i) {
      h.sink->Evaluate(Rcpt("a" + std::to_string(i) + "@example.com"), microseconds(20000),
                       r.Callback());
    }
    h.timers->Advance(microseconds(20000));
  }
  ASSERT_EQ(r.count(), 120u);
  EXPECT_EQ(r.at(119).reason, FallbackReason::kBudgetExceeded);
  EXPECT_EQ(h.sink->breaker().state(), State::kClosed);
  // ...and the next one still goes to the dispatcher.
  h.sink->Evaluate(Rcpt("b@example.com"), microseconds(20000), r.Callback());
  ASSERT_EQ(h.fake->evaluation_count(), 121u);
  h.fake->Answer(120, MakeVerdict(v1::ACTION_CONTINUE));
  EXPECT_EQ(r.at(120).source, VerdictSource::kDispatcher);
  // A burst of misses after that, fewer calls than failure_rate_min_calls, is a hiccup.
  for (int i = 0; i < 30; ++i) {
    h.sink->Evaluate(Rcpt("c@example.com"), microseconds(20000), r.Callback());
  }
  h.timers->Advance(microseconds(20000));
  EXPECT_EQ(h.sink->breaker().state(), State::kClosed);
}

TEST(SinkBreaker, HungDispatcherOpensItThroughTheTimeoutRate) {
  SinkOptions o = QuietOptions();
  o.breaker.failure_rate_min_calls = 10;
  Harness h(o);
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  h.fake->Answer(0, MakeVerdict(v1::ACTION_CONTINUE));
  for (int i = 0; i < 9; ++i) {
    h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
    h.timers->Advance(microseconds(1000));
  }
  EXPECT_EQ(h.sink->breaker().state(), State::kOpen);  // 9 of 10 calls missed
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  EXPECT_EQ(r.at(r.count() - 1).reason, FallbackReason::kCircuitOpen);
}

TEST(SinkBreaker, GrpcDeadlineExceededCountsAsATimeout) {
  SinkOptions o = QuietOptions();
  o.breaker = Breaker(1, milliseconds(50));
  Harness h(o);
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  h.fake->Fail(0, grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(r.at(0).reason, FallbackReason::kBudgetExceeded);
  EXPECT_EQ(h.sink->breaker().state(), State::kClosed);
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  h.fake->Fail(1, grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(h.sink->breaker().state(), State::kOpen);
}

TEST(SinkBreaker, OpenBreakerAnswersInlineWithoutAskingTheDispatcher) {
  SinkOptions o = QuietOptions();
  o.breaker = Breaker(2, milliseconds(50));
  Harness h(o);
  Recorder r;
  for (int i = 0; i < 2; ++i) {
    h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
    h.fake->Fail(static_cast<std::size_t>(i), grpc::StatusCode::UNAVAILABLE);
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

// #14: a malformed event (INVALID_ARGUMENT from the dispatcher) is that event's error; a run of
// them must not open the breaker and fail open every other client's events.
TEST(SinkBreaker, InvalidArgumentIsTheEventsErrorNotABreakerFailure) {
  SinkOptions o = QuietOptions();
  o.breaker = Breaker(5, milliseconds(50));
  Harness h(o);
  Recorder r;
  for (int i = 0; i < 8; ++i) {
    h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
    h.fake->Fail(static_cast<std::size_t>(i), grpc::StatusCode::INVALID_ARGUMENT);
  }
  ASSERT_EQ(r.count(), 8u);
  EXPECT_EQ(r.at(7).reason, FallbackReason::kError);  // the bad event itself falls back
  EXPECT_EQ(h.sink->breaker().state(), State::kClosed);
  EXPECT_EQ(h.sink->breaker().consecutive_failures(), 0u);
  EXPECT_EQ(h.sink->metrics().breaker_opened(), 0);
  // A valid event still goes to the dispatcher.
  h.sink->Evaluate(Rcpt("b@example.com"), microseconds(1000), r.Callback());
  EXPECT_EQ(h.fake->evaluation_count(), 9u);
  h.fake->Answer(8, MakeVerdict(v1::ACTION_CONTINUE));
  EXPECT_EQ(r.count(), 9u);
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

TEST(CircuitBreaker, ProbeNowEndsTheCoolDownOnlyWhileOpen) {
  CircuitBreaker b(Breaker(1, std::chrono::minutes(10)));
  const SteadyTime t{std::chrono::hours(1)};
  b.ProbeNow(t);  // closed: nothing changes
  EXPECT_EQ(b.Allow(t), Admission::kAllowed);
  b.OnFailure(Admission::kAllowed, t);
  ASSERT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.Allow(t + milliseconds(1)), Admission::kRejected);
  b.ProbeNow(t + milliseconds(2));
  EXPECT_EQ(b.Allow(t + milliseconds(2)), Admission::kProbe);
  b.OnSuccess(Admission::kProbe, t + milliseconds(3));
  EXPECT_EQ(b.state(), State::kClosed);
}

TEST(SinkBreaker, ChannelReadyAgainProbesWithoutWaitingOutTheCoolDown) {
  SinkOptions o = QuietOptions();
  o.breaker = Breaker(1, std::chrono::minutes(10));
  Harness h(o);
  Recorder r;
  EXPECT_FALSE(h.fake->BecomeReady());  // closed: nobody waits for the channel
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  h.fake->Fail(0, grpc::StatusCode::UNAVAILABLE);
  ASSERT_EQ(h.sink->breaker().state(), State::kOpen);
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  EXPECT_EQ(r.at(1).reason, FallbackReason::kCircuitOpen);

  // The dispatcher is back: no simulated time passes, and the next event is the probe.
  ASSERT_TRUE(h.fake->BecomeReady());
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1000), r.Callback());
  ASSERT_EQ(h.fake->evaluation_count(), 2u);
  EXPECT_EQ(h.sink->breaker().state(), State::kHalfOpen);
  h.fake->Answer(1, MakeVerdict(v1::ACTION_CONTINUE));
  EXPECT_EQ(h.sink->breaker().state(), State::kClosed);
  EXPECT_EQ(r.at(2).source, VerdictSource::kDispatcher);
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
