// The adaptive (gradient) concurrency limit, driven with simulated time and latencies: it grows
// while latency holds, shrinks when latency inflates or nears the binding's timeout, ignores
// windows where the limit was not what bounded the pool, and stays within its bounds.
#include "dispatch/adaptive_limiter.h"

#include <gtest/gtest.h>

#include <vector>

#include "dispatch/admission.h"

namespace smtpbridge::dispatcher {
namespace {

using namespace std::chrono_literals;

class GradientTest : public ::testing::Test {
 protected:
  // One window: `concurrency` calls in flight at once (0: as many as the limit allows), each
  // ending after `latency` (or at the timeout), then time moves on by the window.
  void Window(GradientLimiter& l, Clock::duration latency, size_t concurrency = 0,
              bool timeouts = false) {
    for (int round = 0; round < 2; ++round) {  // enough samples per window
      size_t n = 0;
      while ((concurrency == 0 || n < concurrency) && l.TryAcquire()) ++n;
      for (size_t i = 0; i < n; ++i) {
        CallSample s;
        s.kind = timeouts ? CallSample::Kind::kTimeout : CallSample::Kind::kAnswered;
        s.latency = latency;
        s.timeout = timeout_;
        s.now = now_;
        l.Release(s);
      }
    }
    now_ += 100ms;
  }
  void Windows(GradientLimiter& l, int count, Clock::duration latency, size_t concurrency = 0) {
    for (int i = 0; i < count; ++i) Window(l, latency, concurrency);
  }

  GradientOptions Options() {
    GradientOptions o;
    o.initial_limit = 20;
    o.min_limit = 4;
    o.max_limit = 200;
    o.min_samples = 4;
    return o;
  }

  Clock::TimePoint now_ = Clock::TimePoint{} + 1h;
  Clock::duration timeout_ = 100ms;
};

TEST_F(GradientTest, GrowsWhileLatencyHoldsUpToTheMaximum) {
  GradientLimiter l(Options());
  EXPECT_EQ(l.limit(), 20u);
  Windows(l, 30, 1ms);
  EXPECT_GT(l.limit(), 40u);
  Windows(l, 300, 1ms);
  EXPECT_EQ(l.limit(), 200u);
}

TEST_F(GradientTest, ShrinksWhenLatencyInflatesAndSettlesNearWhatThePoolTakes) {
  GradientLimiter l(Options());
  Windows(l, 40, 1ms);
  const size_t grown = l.limit();
  ASSERT_GT(grown, 60u);
  // The pool now takes 20 calls at once: beyond that, calls queue and latency grows with
  // the calls in flight.
  auto queued = [](size_t n) { return 1ms * std::max<double>(1.0, n / 20.0); };
  for (int i = 0; i < 100; ++i)
    Window(l, std::chrono::duration_cast<Clock::duration>(queued(l.limit())));
  EXPECT_LT(l.limit(), grown * 2 / 3);  // about tolerance (1.5) × 20 plus headroom
  EXPECT_GE(l.limit(), 10u);
  EXPECT_LE(l.limit(), 60u);
  Windows(l, 200, 20ms);
  EXPECT_GE(l.limit(), 4u);
}

TEST_F(GradientTest, LatencyNearTheTimeoutShrinksItEvenWithoutInflation) {
  GradientLimiter l(Options());
  Windows(l, 60, 80ms);  // steady, but 80 % of the 100 ms timeout
  EXPECT_LT(l.limit(), 10u);
  EXPECT_GE(l.limit(), 4u);
}

TEST_F(GradientTest, TimeoutsCountAsLatencyAtTheTimeout) {
  GradientLimiter l(Options());
  for (int i = 0; i < 60; ++i) Window(l, 1ms, 0, /*timeouts=*/true);
  EXPECT_LT(l.limit(), 10u);
}

TEST_F(GradientTest, DoesNotGrowWhenTheLimitIsNotWhatBoundsThePool) {
  GradientLimiter l(Options());
  Windows(l, 100, 1ms, /*concurrency=*/4);  // 4 in flight, limit 20: app-limited
  EXPECT_EQ(l.limit(), 20u);
}

TEST_F(GradientTest, CancelledAndFailedCallsSayNothing) {
  GradientLimiter l(Options());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(l.TryAcquire());
    l.Release(CallSample{i % 2 ? CallSample::Kind::kCancelled : CallSample::Kind::kError, 90ms,
                         timeout_, now_ + i * 10ms});
  }
  EXPECT_EQ(l.limit(), 20u);
  EXPECT_EQ(l.in_flight(), 0u);
}

TEST(AdmissionAdaptive, PoolsGetAnAdaptiveLimitCappedByThePoolLimit) {
  Admission adaptive({.pool_limit = 10, .adaptive = true});
  auto pool = adaptive.Pool("w:1");
  EXPECT_NE(dynamic_cast<GradientLimiter*>(pool.get()), nullptr);
  EXPECT_EQ(pool->limit(), 10u);  // initial 20, capped at 10
  Admission fixed({.pool_limit = 10});
  EXPECT_EQ(dynamic_cast<GradientLimiter*>(fixed.Pool("w:1").get()), nullptr);
}

}  // namespace
}  // namespace smtpbridge::dispatcher
