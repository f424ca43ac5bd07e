// Circuit breaker in front of the dispatcher: after `failure_threshold` consecutive failures it
// opens for `open_for`, so a dead backend costs microseconds per event instead of the budget;
// then one probe goes through (half-open) and its outcome closes or reopens it.
// Thread-safe; time comes from the caller so tests use simulated time.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

#include "core/timers.h"
#include "smtpbridge/sink/sink_factory.h"

namespace smtpbridge::sink {

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  // What Allow() decided for one call.
  enum class Admission { kRejected, kAllowed, kProbe };

  // `on_change` (optional) sees every state change; it runs under the breaker's lock, so it
  // must only count and log.
  using Listener = std::function<void(State from, State to)>;
  explicit CircuitBreaker(const BreakerOptions& options, Listener on_change = {})
      : options_(options), on_change_(std::move(on_change)) {}

  // Whether a call may go to the dispatcher now. At most one kProbe is outstanding.
  Admission Allow(SteadyTime now);

  // The outcome of a call Allow() admitted. Results of ordinary calls that finish while the
  // breaker is open or half-open are ignored: only the probe decides.
  void OnSuccess(Admission admission, SteadyTime now);
  void OnFailure(Admission admission, SteadyTime now);

  State state() const;
  uint32_t consecutive_failures() const;

 private:
  void OpenLocked(SteadyTime now);
  void SetStateLocked(State next);

  const BreakerOptions options_;
  const Listener on_change_;
  mutable std::mutex mu_;
  State state_ = State::kClosed;
  uint32_t failures_ = 0;
  SteadyTime open_until_{};
  bool probe_in_flight_ = false;
};

std::string_view BreakerStateName(CircuitBreaker::State state);

}  // namespace smtpbridge::sink
