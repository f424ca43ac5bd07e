// The sink's clock and timer seam: the budget timer, the breaker's cool-down, the caches' TTLs
// and the interests refresh all read time and schedule work through it, so unit tests drive
// them with simulated time (ManualTimers) and production uses one timer thread (ThreadTimers).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace smtpbridge::sink {

using SteadyTime = std::chrono::steady_clock::time_point;

// Identifies one scheduled callback; ordered by due time, then by scheduling order.
struct TimerId {
  SteadyTime when{};
  uint64_t seq = 0;
  auto operator<=>(const TimerId&) const = default;
};

class Timers {
 public:
  virtual ~Timers() = default;

  virtual SteadyTime Now() const = 0;

  // Runs `fn` once, no earlier than `when`, on the timers' thread (never inline).
  virtual TimerId Schedule(SteadyTime when, std::function<void()> fn) = 0;

  // Drops a scheduled callback; false when it already ran, is running, or was cancelled.
  virtual bool Cancel(const TimerId& id) = 0;

  // Drops everything still scheduled and stops the thread (joins it). Idempotent. Never call
  // it from a timer callback.
  virtual void Stop() = 0;
};

}  // namespace smtpbridge::sink
