#include "dispatch/adaptive_limiter.h"

#include <algorithm>
#include <cmath>

namespace smtpbridge::dispatcher {

GradientLimiter::GradientLimiter(GradientOptions options)
    : ConcurrencyLimiter(std::clamp(options.initial_limit, options.min_limit, options.max_limit)),
      options_(options),
      estimate_(static_cast<double>(limit_.load())) {}

Clock::duration GradientLimiter::long_latency() const {
  std::lock_guard lock(mu_);
  return std::chrono::nanoseconds(static_cast<int64_t>(long_ns_));
}

void GradientLimiter::OnSample(const CallSample& sample, size_t in_flight) {
  if (sample.kind == CallSample::Kind::kCancelled || sample.kind == CallSample::Kind::kError) {
    return;  // says nothing about how long the pool takes
  }
  const auto latency = sample.kind == CallSample::Kind::kTimeout && sample.timeout.count() > 0
                           ? sample.timeout
                           : sample.latency;
  std::lock_guard lock(mu_);
  if (samples_ == 0 && window_start_ == Clock::TimePoint{}) window_start_ = sample.now;
  sum_ns_ += static_cast<double>(std::chrono::nanoseconds(latency).count());
  ++samples_;
  max_in_flight_ = std::max(max_in_flight_, in_flight);
  if (sample.timeout.count() > 0) timeout_ = sample.timeout;
  if (sample.now - window_start_ >= options_.window && samples_ >= options_.min_samples) {
    UpdateLocked(sample.now);
  }
}

void GradientLimiter::UpdateLocked(Clock::TimePoint now) {
  const double short_ns = sum_ns_ / static_cast<double>(samples_);
  const bool app_limited = static_cast<double>(max_in_flight_) < estimate_ / 2;
  window_start_ = now;
  sum_ns_ = 0;
  samples_ = 0;
  max_in_flight_ = 0;
  if (short_ns <= 0) return;
  // The baseline: the lowest window mean seen, drifting up slowly so a pool that really got
  // slower is followed (an average would follow the queueing the limit itself causes).
  long_ns_ =
      long_ns_ == 0 ? short_ns : std::min(long_ns_ * (1 + options_.baseline_drift), short_ns);
  if (app_limited) return;
  double gradient = std::clamp(options_.tolerance * long_ns_ / short_ns, 0.5, 1.0);
  if (timeout_.count() > 0) {
    const double target =
        options_.budget_share * static_cast<double>(std::chrono::nanoseconds(timeout_).count());
    gradient = std::min(gradient, std::max(0.5, target / short_ns));
  }
  const double next = estimate_ * gradient + std::sqrt(estimate_);
  estimate_ = estimate_ * (1 - options_.smoothing) + next * options_.smoothing;
  estimate_ = std::clamp(estimate_, static_cast<double>(options_.min_limit),
                         static_cast<double>(options_.max_limit));
  limit_.store(static_cast<size_t>(estimate_), std::memory_order_relaxed);
}

}  // namespace smtpbridge::dispatcher
