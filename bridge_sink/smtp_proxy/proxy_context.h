// What every client session shares: configuration, the sink, TLS, metrics, the next hop.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "proxy_config.h"
#include "proxy_metrics.h"
#include "smtpbridge/sink/sink.h"

namespace smtpbridge::proxy {

struct ProxyContext {
  ProxyConfig config;
  sink::Sink* sink = nullptr;
  // The only address the proxy ever connects to (resolved once at start).
  boost::asio::ip::tcp::endpoint next_hop;
  std::unique_ptr<boost::asio::ssl::context> tls;  // null when TLS is not configured
  std::unique_ptr<ProxyMetrics> metrics;
  std::atomic<size_t> active_sessions{0};
  std::atomic<uint64_t> session_counter{0};
  std::atomic<bool> stopping{false};
};

}  // namespace smtpbridge::proxy
