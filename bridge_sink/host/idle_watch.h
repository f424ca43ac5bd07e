// Per-connection read and write deadlines for the milter and policy hosts (one timer, re-armed
// lazily). Use: Start(limit) before a read or write, `waiting = false` after it, then `expired`
// says whether the deadline cancelled it; at the end `closed = true` and cancel the timer.
#pragma once

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <memory>

namespace smtpbridge::host {

// The connection's deadlines, as one lazily re-armed timer: a read or a write only notes when
// it started and its limit, instead of arming and cancelling a timer and racing two operations
// per packet (a milter message is a dozen packets; a policy request two operations). When a read
// waits longer than the idle limit (the peer went silent) or a write longer than the write limit
// (the peer stopped reading our replies: without this a wedged MTA pins the connection forever),
// the operation is cancelled. The timer is never armed further than the shorter limit ahead, so an
// operation starting later is covered without re-arming. Lives on the connection's strand; `closed`
// (set when the connection ends) keeps a late expiry away from the socket.
template <typename Socket>
struct IdleWatch : std::enable_shared_from_this<IdleWatch<Socket>> {
  using Duration = std::chrono::steady_clock::duration;
  IdleWatch(Socket& s, Duration read_limit, Duration write_limit)
      : socket(&s),
        timer(s.get_executor()),
        horizon(std::min(read_limit, write_limit)),
        limit(read_limit) {}

  void Start(Duration op_limit) {
    io_started = std::chrono::steady_clock::now();
    limit = op_limit;
    waiting = true;
  }

  void Arm(std::chrono::steady_clock::time_point at) {
    timer.expires_at(at);
    timer.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->closed) return;
      const auto now = std::chrono::steady_clock::now();
      const auto deadline = self->io_started + self->limit;
      if (!self->waiting || now < deadline) {
        self->Arm(self->waiting ? std::min(deadline, now + self->horizon) : now + self->horizon);
        return;
      }
      self->expired = true;
      boost::system::error_code ignored;
      self->socket->cancel(ignored);
    });
  }

  Socket* socket;
  boost::asio::steady_timer timer;
  const Duration horizon;  // the shorter of the two limits
  Duration limit;          // of the operation outstanding (or last)
  std::chrono::steady_clock::time_point io_started = std::chrono::steady_clock::now();
  bool waiting = false;  // a read or a write is outstanding
  bool expired = false;
  bool closed = false;
};

}  // namespace smtpbridge::host
