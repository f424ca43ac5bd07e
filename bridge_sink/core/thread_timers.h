// The production Timers: one background thread (common::TimerThread in runtime/, shared with the
// dispatcher's ThreadClock) serves every pending evaluation, whatever the load (no thread per
// call), and is woken only when a new deadline is earlier than the one it sleeps until.
#pragma once

#include <functional>
#include <utility>

#include "core/timers.h"
#include "smtpbridge/common/timer_thread.h"

namespace smtpbridge::sink {

class ThreadTimers final : public Timers {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  // After Stop() `fn` never runs and Cancel() reports false.
  TimerId Schedule(SteadyTime when, std::function<void()> fn) override {
    const auto key = timers_.Schedule(when, std::move(fn));
    return TimerId{key.when, key.seq};
  }
  bool Cancel(const TimerId& id) override { return timers_.Cancel({id.when, id.seq}); }
  void Stop() override { timers_.Stop(); }

 private:
  common::TimerThread timers_;
};

}  // namespace smtpbridge::sink
