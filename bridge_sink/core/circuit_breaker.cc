#include "core/circuit_breaker.h"

#include <algorithm>

namespace smtpbridge::sink {

CircuitBreaker::Admission CircuitBreaker::Allow(SteadyTime now) {
  if (!options_.enabled) return Admission::kAllowed;
  std::lock_guard lock(mu_);
  switch (state_) {
    case State::kClosed:
      return Admission::kAllowed;
    case State::kOpen:
      if (now < open_until_) return Admission::kRejected;
      SetStateLocked(State::kHalfOpen);
      probe_in_flight_ = true;
      return Admission::kProbe;
    case State::kHalfOpen:
      if (probe_in_flight_) return Admission::kRejected;
      probe_in_flight_ = true;
      return Admission::kProbe;
  }
  return Admission::kRejected;
}

void CircuitBreaker::OnSuccess(Admission admission, SteadyTime now) {
  if (!options_.enabled) return;
  std::lock_guard lock(mu_);
  if (admission == Admission::kProbe) {
    SetStateLocked(State::kClosed);
    failures_ = 0;
    probe_in_flight_ = false;
    window_ = {};
  } else if (state_ == State::kClosed) {
    failures_ = 0;
    ++BucketLocked(now).calls;
  }
  answered_ = true;
}

void CircuitBreaker::OnFailure(Admission admission, SteadyTime now) {
  if (!options_.enabled) return;
  std::lock_guard lock(mu_);
  if (admission == Admission::kProbe) {
    probe_in_flight_ = false;
    OpenLocked(now);
  } else if (state_ == State::kClosed) {
    Bucket& bucket = BucketLocked(now);
    ++bucket.calls;
    ++bucket.failures;
    if (++failures_ >= options_.failure_threshold || RateExceededLocked(now)) {
      OpenLocked(now);
      return;
    }
  }
}

void CircuitBreaker::OnTimeout(Admission admission, SteadyTime now) {
  if (!options_.enabled) return;
  std::lock_guard lock(mu_);
  if (admission == Admission::kProbe) {
    probe_in_flight_ = false;
    OpenLocked(now);
    return;
  }
  // Before the dispatcher's first answer, misses are the cold start (channels and the
  // dispatcher's own connections to workers still opening), not a verdict on its health.
  if (state_ != State::kClosed || !answered_) return;
  Bucket& bucket = BucketLocked(now);
  ++bucket.calls;
  ++bucket.failures;
  if (RateExceededLocked(now)) OpenLocked(now);
}

bool CircuitBreaker::RateExceededLocked(SteadyTime now) const {
  uint32_t calls = 0;
  uint32_t failures = 0;
  WindowLocked(now, &calls, &failures);
  return calls >= options_.failure_rate_min_calls &&
         uint64_t{failures} * 100 >= uint64_t{calls} * options_.failure_rate_percent;
}

int64_t CircuitBreaker::SliceOf(SteadyTime now) const {
  const auto width = std::max<std::chrono::nanoseconds>(
      std::chrono::nanoseconds(1),
      std::chrono::nanoseconds(options_.failure_rate_window) / kBuckets);
  return now.time_since_epoch() / width;
}

CircuitBreaker::Bucket& CircuitBreaker::BucketLocked(SteadyTime now) {
  const int64_t slice = SliceOf(now);
  Bucket& b = window_[static_cast<std::size_t>(((slice % kBuckets) + kBuckets) % kBuckets)];
  if (b.slice != slice) b = Bucket{slice, 0, 0};
  return b;
}

void CircuitBreaker::WindowLocked(SteadyTime now, uint32_t* calls, uint32_t* failures) const {
  const int64_t slice = SliceOf(now);
  for (const Bucket& b : window_) {
    if (b.slice > slice - kBuckets && b.slice <= slice) {
      *calls += b.calls;
      *failures += b.failures;
    }
  }
}

uint32_t CircuitBreaker::window_calls(SteadyTime now) const {
  std::lock_guard lock(mu_);
  uint32_t calls = 0, failures = 0;
  WindowLocked(now, &calls, &failures);
  return calls;
}

uint32_t CircuitBreaker::window_failures(SteadyTime now) const {
  std::lock_guard lock(mu_);
  uint32_t calls = 0, failures = 0;
  WindowLocked(now, &calls, &failures);
  return failures;
}

void CircuitBreaker::OpenLocked(SteadyTime now) {
  SetStateLocked(State::kOpen);
  failures_ = 0;
  window_ = {};
  open_until_ = now + options_.open_for;
}

void CircuitBreaker::SetStateLocked(State next) {
  if (next == state_) return;
  const State previous = state_;
  state_ = next;
  if (on_change_) on_change_(previous, next);
}

void CircuitBreaker::ProbeNow(SteadyTime now) {
  if (!options_.enabled) return;
  std::lock_guard lock(mu_);
  if (state_ == State::kOpen && open_until_ > now) open_until_ = now;
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

uint32_t CircuitBreaker::consecutive_failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

std::string_view BreakerStateName(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

}  // namespace smtpbridge::sink
