// Timers on one background thread: an ordered map of due functions and a condition variable.
// Schedule() wakes the thread only when the new deadline is earlier than the one it sleeps until,
// and Cancel() just erases under the mutex, so in steady traffic (every event schedules a timer
// and almost always cancels it) the thread wakes about once per timeout period instead of twice
// per event, and one thread serves every pending timer whatever the load. A function (and what it
// holds) is always destroyed outside the mutex. Behind the dispatcher's ThreadClock
// (dispatcher_service/dispatch/thread_clock.h) and the sink's ThreadTimers
// (bridge_sink/core/thread_timers.h).
#pragma once

#include <chrono>
#include <compare>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace smtpbridge::common {

class TimerThread {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Names one scheduled function; ordered by deadline, then by order of scheduling.
  struct Key {
    TimePoint when{};
    uint64_t seq = 0;
    auto operator<=>(const Key&) const = default;
  };

  TimerThread();   // starts the thread
  ~TimerThread();  // Stop()
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  static TimePoint Now() { return std::chrono::steady_clock::now(); }

  // Runs `fn` once, at or after `when`, on the thread (never inline). The key is new either way;
  // after Stop() `fn` is dropped instead (never runs) and `*scheduled`, when given, is false.
  Key Schedule(TimePoint when, std::function<void()> fn, bool* scheduled = nullptr);
  // Drops a pending function; false when it already ran, is running, was cancelled or dropped.
  bool Cancel(const Key& key);
  // Drops every pending function and joins the thread (unless called from a timer function).
  // Idempotent; later Schedule() calls never run.
  void Stop();

  size_t pending() const;

 private:
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

}  // namespace smtpbridge::common
