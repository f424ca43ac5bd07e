// Outlier ejection for one worker pool, after Envoy's outlier detection: an endpoint whose calls
// fail or time out `consecutive_failures` times in a row is taken out of rotation for
// base_ejection × (times ejected), at most max_ejection; when that runs out it is probed back
// in: one real call at a time goes to it, and that call's outcome decides (success: back in
// rotation; failure: ejected again, for longer). At most max_ejection_percent of the pool's
// endpoints are out at once (at least one when the pool has two or more, never all), so a
// problem that hits every replica (an overloaded dispatcher, a bad deploy) is not made worse.
//
// Pure logic on the caller's state and time (the pool's lock guards it), tested with simulated
// time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "dispatch/clock.h"

namespace smtpbridge::dispatcher {

struct OutlierOptions {
  uint32_t consecutive_failures = 5;  // 0: never eject
  std::chrono::milliseconds base_ejection{1000};
  std::chrono::milliseconds max_ejection{30000};
  uint32_t max_ejection_percent = 50;
};

// How one call to an endpoint went, as far as the endpoint's health is concerned.
enum class CallResult {
  kSuccess,
  kFailure,  // an error status, or no answer by the call's deadline
  kNeutral,  // cancelled early by the dispatcher (decided elsewhere): says nothing
};

struct OutlierState {
  enum class Mode { kHealthy, kEjected, kProbing };
  Mode mode = Mode::kHealthy;
  uint32_t consecutive_failures = 0;
  uint32_t times_ejected = 0;
  Clock::TimePoint ejected_until{};
  Clock::TimePoint returned_at{};  // last time it came back into rotation
  bool probe_in_flight = false;
  bool out() const { return mode != Mode::kHealthy; }
};

class OutlierDetector {
 public:
  enum class Change { kNone, kEjected, kReturned };

  explicit OutlierDetector(OutlierOptions options = {}) : options_(options) {}

  // Whether a call may go to the endpoint now. An ejection that has run out turns into probing
  // here (`*probing_started` then true), and a probing endpoint takes one call at a time.
  bool Eligible(OutlierState& s, Clock::TimePoint now, bool* probing_started = nullptr) const;
  // The pool chose the endpoint for a call; true when that call is the probe.
  bool OnPicked(OutlierState& s) const;
  // The outcome of a call; `probe` as OnPicked said. `out_now` is how many of the pool's
  // `total` endpoints are out (ejected or probing), this one included if it is.
  Change OnResult(OutlierState& s, CallResult result, bool probe, Clock::TimePoint now,
                  size_t out_now, size_t total) const;
  // How many of `total` endpoints may be out at once.
  size_t MaxOut(size_t total) const;
  // How long the next ejection of `s` lasts.
  Clock::duration EjectionFor(const OutlierState& s) const;

  const OutlierOptions& options() const { return options_; }

 private:
  void Eject(OutlierState& s, Clock::TimePoint now) const;

  OutlierOptions options_;
};

}  // namespace smtpbridge::dispatcher
