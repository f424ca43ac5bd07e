// Circuit breaker in front of the dispatcher: after `failure_threshold` consecutive transport
// failures, or when failures and budget timeouts together make up `failure_rate_percent` of at
// least `failure_rate_min_calls` calls in the last `failure_rate_window`, it opens for
// `open_for`, so a dead or hung backend costs microseconds per event instead of the budget; then
// one probe goes through (half-open) and its outcome closes or reopens it. Timeouts go through a
// rate, not the consecutive count: under a brief overload a run of budget misses is normal and must
// not turn into an `open_for` outage. Thread-safe; time comes from the caller so tests use
// simulated time.
#pragma once

#include <array>
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
  // A transport failure (unreachable, error status): counts toward `failure_threshold`.
  void OnFailure(Admission admission, SteadyTime now);
  // A budget timeout: counts toward the failure rate only, and only once some call succeeded
  // (a probe's timeout reopens).
  void OnTimeout(Admission admission, SteadyTime now);

  // The dispatcher is reachable again (its channel became ready): while open, the next call is
  // the probe, without waiting out the rest of `open_for`.
  void ProbeNow(SteadyTime now);

  State state() const;
  uint32_t consecutive_failures() const;
  // Calls and failures (timeouts included) in the current rate window (closed state only).
  uint32_t window_calls(SteadyTime now) const;
  uint32_t window_failures(SteadyTime now) const;

 private:
  // The rate window, in kBuckets slices of failure_rate_window / kBuckets: old slices drop out as
  // time passes, without a timer and without remembering each call.
  static constexpr int kBuckets = 10;
  struct Bucket {
    int64_t slice = -1;  // which slice of time the counts belong to
    uint32_t calls = 0;
    uint32_t failures = 0;
  };
  int64_t SliceOf(SteadyTime now) const;
  Bucket& BucketLocked(SteadyTime now);
  void WindowLocked(SteadyTime now, uint32_t* calls, uint32_t* failures) const;
  bool RateExceededLocked(SteadyTime now) const;
  void OpenLocked(SteadyTime now);
  void SetStateLocked(State next);

  const BreakerOptions options_;
  const Listener on_change_;
  mutable std::mutex mu_;
  State state_ = State::kClosed;
  uint32_t failures_ = 0;
  SteadyTime open_until_{};
  bool probe_in_flight_ = false;
  bool answered_ = false;  // the dispatcher has answered at least once
  std::array<Bucket, kBuckets> window_{};
};

std::string_view BreakerStateName(CircuitBreaker::State state);

}  // namespace smtpbridge::sink
