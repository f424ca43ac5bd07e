// The real Clock: std::chrono::steady_clock plus timers on one Boost.Asio thread.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <thread>

#include "dispatch/clock.h"

namespace smtpbridge::dispatcher {

class AsioClock : public Clock {
 public:
  AsioClock();
  ~AsioClock() override;
  AsioClock(const AsioClock&) = delete;
  AsioClock& operator=(const AsioClock&) = delete;

  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  // Cancel is asynchronous: a timer that is already firing may still run its function, which
  // the fan-out tolerates (a finished slot ignores late events).
  CancelFn Schedule(TimePoint when, std::function<void()> fn) override;
  // Stops the timer thread; pending timers never fire and their functions are destroyed.
  void Stop();

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace smtpbridge::dispatcher
