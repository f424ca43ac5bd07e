// The deadline of one client I/O operation: Arm() before a read, write, TLS handshake or TLS
// shutdown with the time it must finish by; Done() with its error tells kTimeout from any other
// failure. A missed deadline cancels the operation (the session then closes with the RFC 5321
// 421). Nothing outlives an operation: no flags, no generation counter; a timer wakeup queued
// before Done() finds the next operation's deadline (or none) and leaves it alone.
// The operation itself stays in the caller's coroutine: no extra frame per read or write.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace smtpbridge::proxy {

class ClientDeadline {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Status { kOk, kTimeout, kFailed };  // kFailed: closed, reset, or cancelled

  explicit ClientDeadline(boost::asio::ip::tcp::socket& socket);

  // A timer wakeup must not touch a destroyed session: it holds `owner` weakly.
  void set_owner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

  void Arm(Clock::time_point deadline);
  Status Done(const boost::system::error_code& ec, Clock::time_point deadline);
  // Cancels the client operation in progress (it ends kFailed, or kTimeout past its deadline).
  void Cancel();

 private:
  boost::asio::ip::tcp::socket& socket_;
  boost::asio::steady_timer timer_;
  std::weak_ptr<void> owner_;
};

}  // namespace smtpbridge::proxy
