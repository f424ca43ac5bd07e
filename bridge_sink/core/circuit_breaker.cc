#include "core/circuit_breaker.h"

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
  } else if (state_ == State::kClosed) {
    failures_ = 0;
  }
}

void CircuitBreaker::OnFailure(Admission admission, SteadyTime now) {
  if (!options_.enabled) return;
  std::lock_guard lock(mu_);
  if (admission == Admission::kProbe) {
    probe_in_flight_ = false;
    OpenLocked(now);
  } else if (state_ == State::kClosed && ++failures_ >= options_.failure_threshold) {
    OpenLocked(now);
  }
}

void CircuitBreaker::OpenLocked(SteadyTime now) {
  SetStateLocked(State::kOpen);
  failures_ = 0;
  open_until_ = now + options_.open_for;
}

void CircuitBreaker::SetStateLocked(State next) {
  if (next == state_) return;
  const State previous = state_;
  state_ = next;
  if (on_change_) on_change_(previous, next);
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
    case CircuitBreaker::State::kClosed: return "closed";
    case CircuitBreaker::State::kOpen: return "open";
    case CircuitBreaker::State::kHalfOpen: return "half_open";
  }
  return "unknown";
}

}  // namespace smtpbridge::sink
