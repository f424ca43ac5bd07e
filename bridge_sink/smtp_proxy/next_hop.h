// The proxy's one upstream SMTP session: connect, send a command, read its (multi-line) reply,
// send message bytes. Every operation has a deadline; any failure is final for the session.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "line_reader.h"
#include "reply_parser.h"
#include "smtp_reply.h"

namespace smtpbridge::proxy {

class NextHop {
 public:
  struct Result {
    bool ok = false;
    Reply reply;
    std::string error;  // when !ok
  };

  explicit NextHop(const boost::asio::any_io_executor& executor);

  // Connects and reads the greeting.
  boost::asio::awaitable<Result> Connect(boost::asio::ip::tcp::endpoint endpoint,
                                         std::chrono::milliseconds timeout);
  // Sends `line` + CRLF and reads the reply.
  boost::asio::awaitable<Result> Command(const std::string& line,
                                         std::chrono::milliseconds timeout);
  // Sends raw bytes (the message and its final ".\r\n") and reads the reply.
  boost::asio::awaitable<Result> SendRaw(const std::string& bytes,
                                         std::chrono::milliseconds timeout);

  bool usable() const { return connected_ && !failed_; }
  // Extensions from the last EHLO reply (upper-case keywords).
  bool HasExtension(std::string_view keyword) const;
  void NoteEhloReply(const Reply& reply);
  void Cancel();
  void Close();

 private:
  boost::asio::awaitable<Result> ReadReply(std::chrono::milliseconds timeout);
  void Arm(std::chrono::milliseconds timeout);
  void Disarm();
  Result Fail(std::string why);

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  uint64_t generation_ = 0;
  bool timed_out_ = false;
  bool connected_ = false;
  bool failed_ = false;
  LineReader reader_{ReplyParser::kMaxLineLength + 2};
  ReplyParser parser_;
  std::string extensions_;  // " PIPELINING SIZE ..." for HasExtension
};

}  // namespace smtpbridge::proxy
