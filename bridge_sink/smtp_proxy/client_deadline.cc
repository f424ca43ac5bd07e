#include "client_deadline.h"

namespace smtpbridge::proxy {

ClientDeadline::ClientDeadline(boost::asio::ip::tcp::socket& socket)
    : socket_(socket), timer_(socket.get_executor()) {}

void ClientDeadline::Arm(Clock::time_point deadline) {
  timer_.expires_at(deadline);
  timer_.async_wait([this, owner = owner_](const boost::system::error_code& ec) {
    if (ec) return;
    const auto alive = owner.lock();
    if (!alive || timer_.expiry() > Clock::now()) return;  // a later operation's deadline, or none
    Cancel();
  });
}

ClientDeadline::Status ClientDeadline::Done(const boost::system::error_code& ec,
                                            Clock::time_point deadline) {
  timer_.expires_at(Clock::time_point::max());  // cancels the wait; a queued wakeup sees "never"
  if (!ec) return Status::kOk;
  return Clock::now() >= deadline ? Status::kTimeout : Status::kFailed;
}

void ClientDeadline::Cancel() {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

}  // namespace smtpbridge::proxy
