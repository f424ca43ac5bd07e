// Time behind an interface, so fan-out deadlines are tested with simulated time.
#pragma once

#include <chrono>
#include <functional>

namespace smtpbridge::dispatcher {

// Cancels something (a timer, a worker call). Safe to call more than once, and after the thing
// already finished. May be empty.
using CancelFn = std::function<void()>;

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // Runs `fn` once, at or after `when`, on a clock thread (never inline). The returned function
  // cancels it; a timer already firing may still run `fn`, so `fn` must tolerate being late.
  virtual CancelFn Schedule(TimePoint when, std::function<void()> fn) = 0;
};

}  // namespace smtpbridge::dispatcher
