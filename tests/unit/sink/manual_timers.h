// Simulated time for the sink's unit tests: callbacks run only when the test advances the clock,
// on the test's own thread.
#pragma once

#include <functional>
#include <map>
#include <mutex>

#include "core/timers.h"

namespace smtpbridge::sink::testing {

class ManualTimers final : public Timers {
 public:
  SteadyTime Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  TimerId Schedule(SteadyTime when, std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    TimerId id{when, ++seq_};
    if (!stopped_) due_.emplace(id, std::move(fn));
    return id;
  }

  bool Cancel(const TimerId& id) override {
    std::lock_guard lock(mu_);
    return due_.erase(id) > 0;
  }

  void Stop() override {
    std::lock_guard lock(mu_);
    stopped_ = true;
    due_.clear();
  }

  // Moves the clock forward by `d`, running each callback that falls due at its own time.
  void Advance(std::chrono::nanoseconds d) {
    std::unique_lock lock(mu_);
    const SteadyTime target = now_ + std::chrono::duration_cast<SteadyTime::duration>(d);
    while (!due_.empty() && due_.begin()->first.when <= target) {
      auto first = due_.begin();
      now_ = std::max(now_, first->first.when);
      auto fn = std::move(first->second);
      due_.erase(first);
      lock.unlock();
      fn();
      lock.lock();
    }
    now_ = target;
  }

  std::size_t scheduled() const {
    std::lock_guard lock(mu_);
    return due_.size();
  }

 private:
  mutable std::mutex mu_;
  SteadyTime now_{std::chrono::hours(1)};  // any fixed origin; not zero, like a real clock
  uint64_t seq_ = 0;
  bool stopped_ = false;
  std::map<TimerId, std::function<void()>> due_;
};

}  // namespace smtpbridge::sink::testing
