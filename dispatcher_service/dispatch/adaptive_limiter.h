// An adaptive concurrency limit for one worker pool: a gradient controller after Netflix
// concurrency-limits' Gradient2 and Envoy's adaptive concurrency filter, anchored to the
// binding's timeout.
//
// Every `window` (with at least `min_samples` calls) it compares the window's mean latency
// (short) with a baseline (long, the pool's latency without queueing: the lowest window mean
// seen, rising by baseline_drift per window so a pool that really got slower is followed;
// Envoy re-measures it by pinning concurrency low for a while, which here would shed events):
//
//   gradient = clamp(tolerance × long / short, 0.5, 1)        latency inflating: shrink
//   gradient = min(gradient, max(0.5, budget_share × timeout / short))
//                                                               near the timeout: shrink
//   limit    = limit × (1 − smoothing) + (limit × gradient + √limit) × smoothing
//
// clamped to [min_limit, max_limit]. √limit is the headroom that lets it grow while latency
// holds. A window in which fewer than half the limit's calls were ever in flight changes
// nothing (the limit was not what bounded the pool). Timeouts count as samples at the timeout.
//
// Why a gradient and not AIMD: AIMD finds the ceiling through drops, and here every drop is an
// event that paid its whole budget and got its binding's on_error; the gradient backs off as
// soon as latency inflates, before budgets are blown, and the timeout anchor keeps the pool's
// latency inside the binding's budget however slow its baseline drifts.
#pragma once

#include <mutex>

#include "dispatch/concurrency_limiter.h"

namespace smtpbridge::dispatcher {

struct GradientOptions {
  size_t initial_limit = 20;
  size_t min_limit = 4;
  size_t max_limit = 1000;
  std::chrono::milliseconds window{100};
  size_t min_samples = 10;
  double tolerance = 1.5;         // latency may reach tolerance × long before the limit shrinks
  double smoothing = 0.2;         // how far one window moves the limit toward its new value
  double baseline_drift = 0.002;  // per window: the baseline doubles in ~350 windows (35 s)
  double budget_share = 0.5;      // mean latency above this share of the timeout shrinks the limit
};

class GradientLimiter final : public ConcurrencyLimiter {
 public:
  explicit GradientLimiter(GradientOptions options = {});

  // The latencies the controller works from (tests, debugging).
  Clock::duration long_latency() const;

 protected:
  void OnSample(const CallSample& sample, size_t in_flight) override;

 private:
  void UpdateLocked(Clock::TimePoint now);

  const GradientOptions options_;
  mutable std::mutex mu_;
  double estimate_;
  double long_ns_ = 0;
  Clock::TimePoint window_start_{};
  double sum_ns_ = 0;
  size_t samples_ = 0;
  size_t max_in_flight_ = 0;
  Clock::duration timeout_{};
};

}  // namespace smtpbridge::dispatcher
