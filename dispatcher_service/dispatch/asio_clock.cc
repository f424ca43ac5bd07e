#include "dispatch/asio_clock.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>

namespace smtpbridge::dispatcher {

AsioClock::AsioClock() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}

AsioClock::~AsioClock() { Stop(); }

void AsioClock::Stop() {
  if (!thread_.joinable()) return;
  work_.reset();
  io_.stop();
  thread_.join();
}

CancelFn AsioClock::Schedule(TimePoint when, std::function<void()> fn) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, when);
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  timer->async_wait([timer, cancelled, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (!ec && !cancelled->load()) fn();
  });
  std::weak_ptr<boost::asio::steady_timer> weak = timer;
  return [this, weak, cancelled] {
    if (cancelled->exchange(true)) return;
    // Timers are not thread-safe: cancel on the clock's own thread, which frees the handler
    // (and what it holds) promptly instead of at expiry.
    boost::asio::post(io_, [weak] {
      if (auto t = weak.lock()) t->cancel();
    });
  };
}

}  // namespace smtpbridge::dispatcher
