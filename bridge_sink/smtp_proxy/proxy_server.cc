#include "proxy_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>

#include "client_session.h"

namespace smtpbridge::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;

ProxyServer::ProxyServer(asio::io_context& io, ProxyConfig config, sink::Sink& sink,
                         std::shared_ptr<prometheus::Registry> registry)
    : ProxyServer(io, host::StrandPerConnection(io), std::move(config), sink, std::move(registry)) {
}

ProxyServer::ProxyServer(asio::io_context& io, host::ExecutorSource sessions, ProxyConfig config,
                         sink::Sink& sink, std::shared_ptr<prometheus::Registry> registry)
    : io_(io),
      context_(std::make_shared<ProxyContext>()),
      listener_(std::make_unique<host::Listener>(io, std::move(sessions), "proxy")) {
  context_->config = std::move(config);
  context_->sink = &sink;
  context_->metrics = std::make_unique<ProxyMetrics>(std::move(registry));
}

ProxyServer::~ProxyServer() {
  context_->stopping.store(true);
  listener_->StopAccepting();
}

tcp::endpoint ProxyServer::Start() {
  const ProxyConfig& config = context_->config;
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(config.next_hop, &host, &port) || port == 0) {
    throw std::runtime_error("next hop: expected HOST:PORT, got '" + config.next_hop + "'");
  }
  tcp::resolver resolver(io_);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty())
    throw std::runtime_error("next hop " + config.next_hop + ": " + ec.message());
  context_->next_hop = results.begin()->endpoint();

  if (config.tls_enabled()) {
    auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    tls->use_certificate_chain_file(config.tls_cert, ec);
    if (ec) throw std::runtime_error("tls.cert " + config.tls_cert + ": " + ec.message());
    tls->use_private_key_file(config.tls_key, asio::ssl::context::pem, ec);
    if (ec) throw std::runtime_error("tls.key " + config.tls_key + ": " + ec.message());
    context_->tls = std::move(tls);
  }

  if (!SplitHostPort(config.listen, &host, &port)) {
    throw std::runtime_error("listen: expected HOST:PORT, got '" + config.listen + "'");
  }
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("listen: bad address '" + host + "'");
  try {
    return listener_->ListenTcp(tcp::endpoint(address, port),
                                [this](tcp::socket socket) { Accept(std::move(socket)); });
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("listen " + config.listen + ": " + e.code().message());
  }
}

void ProxyServer::Accept(tcp::socket socket) {
  if (context_->active_sessions.load() >= context_->config.limits.max_sessions) {
    context_->metrics->sessions_refused.Increment();
    auto s = std::make_shared<tcp::socket>(std::move(socket));
    auto reply = std::make_shared<std::string>("421 4.7.0 " + context_->config.hostname +
                                               " Error: too many connections\r\n");
    asio::async_write(*s, asio::buffer(*reply), [s, reply](boost::system::error_code, size_t) {
      boost::system::error_code ignored;
      s->shutdown(tcp::socket::shutdown_both, ignored);
      s->close(ignored);
    });
    return;
  }
  auto session = std::make_shared<ClientSession>(std::move(socket), context_);
  {
    std::lock_guard lock(mu_);
    std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
    sessions_.push_back(session);
  }
  session->Start();
}

void ProxyServer::Stop() {
  context_->stopping.store(true);
  listener_->StopAccepting();  // thread-safe, closed on return
  std::lock_guard lock(mu_);
  for (auto& weak : sessions_) {
    if (auto session = weak.lock()) session->RequestShutdown();
  }
  sessions_.clear();
}

}  // namespace smtpbridge::proxy
