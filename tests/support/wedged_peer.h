// A peer that keeps sending requests and never reads an answer, like an MTA that wedged: once
// the host's replies fill the socket buffers, the host's write cannot finish. The thread ends
// at the first failed write; StopSending() ends it (loopback TCP may take seconds to report the
// host's close to a sender whose receive buffer is full).
#pragma once

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <thread>

namespace smtpbridge::testing {

// `peer` must be connected and outlive the thread. A small receive buffer makes the wedge
// come sooner; writes never raise SIGPIPE (Asio sends with MSG_NOSIGNAL).
// Over a unix socket the wedge is exact: the host's write blocks once its send buffer is full.
// Over loopback TCP it is not (the kernel collapses the peer's receive queue, drops and
// retransmits with backoff), so a host's writes crawl on for seconds before they stall.
template <typename Socket>
std::thread SendWithoutReading(Socket& peer, const std::string& request) {
  peer.set_option(boost::asio::socket_base::receive_buffer_size(4096));
  std::string burst;
  while (burst.size() < 64 * 1024) burst += request;
  return std::thread([&peer, burst = std::move(burst)] {
    for (;;) {
      boost::system::error_code ec;
      boost::asio::write(peer, boost::asio::buffer(burst), ec);
      if (ec) return;
    }
  });
}

// Shuts `peer` down under the sending thread (the syscall is safe from any thread) and joins it.
template <typename Socket>
void StopSending(Socket& peer, std::thread& sender) {
  ::shutdown(peer.native_handle(), SHUT_RDWR);
  sender.join();
}

}  // namespace smtpbridge::testing
