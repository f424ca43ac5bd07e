// The real Clock: std::chrono::steady_clock plus timers on one background thread (an ordered map
// of due functions and a condition variable). Schedule() wakes the thread only when the new
// deadline is earlier than the one it sleeps until, and Cancel just erases under the mutex, so
// in steady traffic (every event schedules a timer and almost always cancels it) the thread
// wakes about once per timeout period instead of twice per event. Same pattern as the sink's
// ThreadTimers (bridge_sink/core/thread_timers.h).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "dispatch/clock.h"

namespace smtpbridge::dispatcher {

class ThreadClock final : public Clock {
 public:
  ThreadClock();
  ~ThreadClock() override;
  ThreadClock(const ThreadClock&) = delete;
  ThreadClock& operator=(const ThreadClock&) = delete;

  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  // The returned function erases the timer; one already running may still finish, which the
  // fan-out tolerates (a finished slot ignores late events). The clock must outlive it.
  CancelFn Schedule(TimePoint when, std::function<void()> fn) override;
  // Stops the timer thread; pending timers never fire and their functions are destroyed.
  void Stop();

  size_t pending() const;

 private:
  using Key = std::pair<TimePoint, uint64_t>;  // deadline, then order of scheduling
  void Run();

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<Key, std::function<void()>> due_;
  uint64_t next_seq_ = 0;
  // What the thread sleeps until (max: no deadline; min: running functions, no wake needed).
  TimePoint waiting_until_ = TimePoint::max();
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace smtpbridge::dispatcher
