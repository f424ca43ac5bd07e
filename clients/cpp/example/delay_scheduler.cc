#include "delay_scheduler.h"

#include <boost/asio/steady_timer.hpp>
#include <memory>

namespace smtpbridge::example {

DelayScheduler::DelayScheduler()
    : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

DelayScheduler::~DelayScheduler() {
  work_.reset();
  io_.stop();
  thread_.join();
}

void DelayScheduler::After(std::chrono::nanoseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, delay);
  timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (!ec) fn();
  });
}

}  // namespace smtpbridge::example
