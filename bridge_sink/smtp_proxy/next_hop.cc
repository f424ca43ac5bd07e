#include "next_hop.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>

namespace smtpbridge::proxy {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

NextHop::NextHop(const asio::any_io_executor& executor) : socket_(executor), timer_(executor) {}

void NextHop::Arm(std::chrono::milliseconds timeout) {
  const uint64_t generation = ++generation_;
  timed_out_ = false;
  timer_.expires_after(timeout);
  timer_.async_wait([this, generation](const boost::system::error_code& ec) {
    // Checked in this order: a destroyed NextHop only ever sees operation_aborted.
    if (ec || generation != generation_) return;
    timed_out_ = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  });
}

void NextHop::Disarm() {
  ++generation_;
  timer_.cancel();
}

NextHop::Result NextHop::Fail(std::string why) {
  failed_ = true;
  Close();
  return Result{false, {}, std::move(why)};
}

asio::awaitable<NextHop::Result> NextHop::Connect(asio::ip::tcp::endpoint endpoint,
                                                  std::chrono::milliseconds timeout) {
  Arm(timeout);
  auto [ec] = co_await socket_.async_connect(endpoint, as_tuple(use_awaitable));
  Disarm();
  if (ec) co_return Fail(timed_out_ ? "connect timed out" : "connect: " + ec.message());
  connected_ = true;
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  co_return co_await ReadReply(timeout);
}

asio::awaitable<NextHop::Result> NextHop::Command(const std::string& line,
                                                  std::chrono::milliseconds timeout) {
  co_return co_await SendRaw(line + "\r\n", timeout);
}

asio::awaitable<NextHop::Result> NextHop::SendRaw(const std::string& bytes,
                                                  std::chrono::milliseconds timeout) {
  if (!usable()) co_return Result{false, {}, "next hop not connected"};
  Arm(timeout);
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), as_tuple(use_awaitable));
  Disarm();
  if (ec) co_return Fail(timed_out_ ? "write timed out" : "write: " + ec.message());
  co_return co_await ReadReply(timeout);
}

asio::awaitable<NextHop::Result> NextHop::ReadReply(std::chrono::milliseconds timeout) {
  Arm(timeout);
  std::array<char, 4096> buf;
  while (true) {
    while (auto line = reader_.Next()) {
      if (line->too_long || line->bare_cr_or_lf) {
        Disarm();
        co_return Fail("malformed reply line");
      }
      const auto status = parser_.Feed(line->text);
      if (status == ReplyParser::Status::kMalformed) {
        Disarm();
        co_return Fail("malformed reply: " + parser_.error());
      }
      if (status == ReplyParser::Status::kComplete) {
        Disarm();
        co_return Result{true, parser_.Take(), {}};
      }
    }
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
    if (ec) {
      Disarm();
      co_return Fail(timed_out_ ? "reply timed out" : "read: " + ec.message());
    }
    reader_.Append(std::string_view(buf.data(), n));
  }
}

void NextHop::NoteEhloReply(const Reply& reply) {
  extensions_ = " ";
  for (size_t i = 1; i < reply.lines.size(); ++i) {
    std::string keyword;
    for (char c : reply.lines[i]) {
      if (c == ' ') break;
      keyword += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    extensions_ += keyword + " ";
  }
}

bool NextHop::HasExtension(std::string_view keyword) const {
  return extensions_.find(" " + std::string(keyword) + " ") != std::string::npos;
}

void NextHop::Cancel() {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void NextHop::Close() {
  boost::system::error_code ignored;
  timer_.cancel();
  if (socket_.is_open()) {
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  connected_ = false;
}

}  // namespace smtpbridge::proxy
