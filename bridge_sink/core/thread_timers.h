// Timers on one background thread: an ordered map of due callbacks and a condition variable.
// One thread serves every pending evaluation, whatever the load (no thread per call).
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "core/timers.h"

namespace smtpbridge::sink {

class ThreadTimers final : public Timers {
 public:
  ThreadTimers();
  ~ThreadTimers() override;

  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  TimerId Schedule(SteadyTime when, std::function<void()> fn) override;
  bool Cancel(const TimerId& id) override;
  void Stop() override;

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable wake_;
  std::map<TimerId, std::function<void()>> due_;
  uint64_t next_seq_ = 0;
  // The deadline the thread sleeps until (max: no deadline), so Schedule() wakes it only when
  // needed.
  SteadyTime waiting_until_ = SteadyTime::max();
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace smtpbridge::sink
