// Runs callbacks after a delay on one timer thread, so a deliberately slow worker holds no
// gRPC thread while it waits.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <thread>

namespace smtpbridge::example {

class DelayScheduler {
 public:
  DelayScheduler();
  // Stops the timer thread; callbacks not yet due never run.
  ~DelayScheduler();

  void After(std::chrono::nanoseconds delay, std::function<void()> fn);

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace smtpbridge::example
