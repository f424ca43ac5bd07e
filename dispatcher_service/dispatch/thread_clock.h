// The real Clock: std::chrono::steady_clock plus timers on one lazily woken background thread
// (common::TimerThread, shared with the sink's ThreadTimers): in steady traffic (every event
// schedules a timer and almost always cancels it) the thread wakes about once per timeout period
// instead of twice per event.
#pragma once

#include <functional>
#include <utility>

#include "dispatch/clock.h"
#include "smtpbridge/common/timer_thread.h"

namespace smtpbridge::dispatcher {

class ThreadClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  // The returned function erases the timer (destroying its function outside the timer mutex;
  // the fan-out's timer functions only hold a shared_ptr to their evaluation); one already
  // running may still finish, which the fan-out tolerates (a finished slot ignores late events).
  // Empty after Stop(). The clock must outlive it.
  CancelFn Schedule(TimePoint when, std::function<void()> fn) override {
    bool scheduled = false;
    const auto key = timers_.Schedule(when, std::move(fn), &scheduled);
    if (!scheduled) return nullptr;  // never runs
    return [this, key] { timers_.Cancel(key); };
  }
  // Stops the timer thread; pending timers never fire and their functions are destroyed.
  void Stop() { timers_.Stop(); }

  size_t pending() const { return timers_.pending(); }

 private:
  common::TimerThread timers_;
};

}  // namespace smtpbridge::dispatcher
