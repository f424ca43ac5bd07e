// The listening side of the proxy: accepts clients (through host::Listener, like the other
// hosts), enforces max_sessions, starts a ClientSession per connection on its own strand or I/O
// thread, and drains them on Stop().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <mutex>
#include <vector>

#include "host/io_pool.h"
#include "host/listener.h"
#include "proxy_config.h"
#include "proxy_context.h"
#include "smtpbridge/sink/sink.h"

namespace prometheus {
class Registry;
}

namespace smtpbridge::proxy {

class ClientSession;

class ProxyServer {
 public:
  // `sink` must outlive the server and every session (sessions end after Stop() and the
  // io_context running out of work).
  // Sessions on strands of `io` (run it from any number of threads).
  ProxyServer(boost::asio::io_context& io, ProxyConfig config, sink::Sink& sink,
              std::shared_ptr<prometheus::Registry> registry = nullptr);
  // The acceptor on `io`, each session on the executor `sessions` gives (see host::IoPool).
  ProxyServer(boost::asio::io_context& io, host::ExecutorSource sessions, ProxyConfig config,
              sink::Sink& sink, std::shared_ptr<prometheus::Registry> registry = nullptr);
  ~ProxyServer();

  // Resolves the next hop, loads TLS, binds and starts accepting. Throws std::runtime_error.
  boost::asio::ip::tcp::endpoint Start();
  // Stops accepting; open sessions say 421 at their next read and close. Thread-safe.
  void Stop();

  size_t active_sessions() const { return context_->active_sessions.load(); }
  const ProxyMetrics& metrics() const { return *context_->metrics; }

 private:
  // A new client (on its session's executor): refused with 421 over max_sessions, else a session.
  void Accept(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  std::shared_ptr<ProxyContext> context_;
  std::unique_ptr<host::Listener> listener_;
  std::mutex mu_;
  std::vector<std::weak_ptr<ClientSession>> sessions_;
};

}  // namespace smtpbridge::proxy
