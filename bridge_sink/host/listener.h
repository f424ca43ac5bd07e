// The hosts' listening side: binds the addresses a host was given (TCP or unix sockets, see
// listen_address.h), accepts, and hands each connection, already on the executor it will live
// on, to the host. One accept loop for the milter, policy and proxy hosts.
//
// StopAccepting() may be called from any thread (a drain runs on the I/O thread, tests and
// destructors elsewhere): the acceptors are closed on return, and never while the accept loop
// re-arms on an I/O thread (that race is what ThreadSanitizer reported when the close ran on
// the caller's thread unguarded).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/io_pool.h"
#include "host/listen_address.h"

namespace smtpbridge::host {

struct AcceptHandlers {
  std::function<void(boost::asio::ip::tcp::socket)> tcp;
  // Empty: this host refuses unix socket addresses.
  std::function<void(boost::asio::local::stream_protocol::socket)> unix_socket;
};

class Listener {
 public:
  // Acceptors on `io`; each accepted connection on the executor `connections` gives. `name`
  // prefixes log lines ("milter: accept: ...").
  Listener(boost::asio::io_context& io, ExecutorSource connections, std::string name);
  ~Listener();  // stops accepting and removes the unix socket files it created
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and starts accepting. Returns "host:port" (the bound port when 0 was asked; IPv6 in
  // brackets) or the unix socket path. Throws std::runtime_error "cannot listen on ...: why".
  std::string Listen(const ListenAddress& address, AcceptHandlers handlers);
  // TCP alone, for a host that takes clients over TCP only (the proxy): the bound endpoint.
  boost::asio::ip::tcp::endpoint ListenTcp(
      const boost::asio::ip::tcp::endpoint& endpoint,
      std::function<void(boost::asio::ip::tcp::socket)> on_accept);
  // Closes every acceptor (done on return); open connections are the host's business.
  void StopAccepting();

  class Loop;  // one acceptor and its accept loop (listener.cc)

 private:
  boost::asio::io_context& io_;
  ExecutorSource connections_;
  std::string name_;
  std::vector<std::shared_ptr<Loop>> loops_;
  std::vector<std::string> unix_paths_;
};

}  // namespace smtpbridge::host
