// An in-process proxy for tests: ProxyServer on its own io_context threads, a CaptureSmtpServer
// as next hop and a FakeSink, all on loopback.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "capture_smtp_server.h"
#include "fake_sink.h"
#include "proxy_config.h"
#include "proxy_server.h"

namespace smtpbridge::testing {

class ProxyHarness {
 public:
  explicit ProxyHarness(proxy::ProxyConfig config = TestConfig(), bool start_next_hop = true);
  ~ProxyHarness();

  static proxy::ProxyConfig TestConfig();

  int port() const { return port_; }
  FakeSink& sink() { return sink_; }
  CaptureSmtpServer& next_hop() { return next_hop_; }
  proxy::ProxyServer& server() { return *server_; }

 private:
  FakeSink sink_;
  CaptureSmtpServer next_hop_;
  boost::asio::io_context io_;
  std::unique_ptr<proxy::ProxyServer> server_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

}  // namespace smtpbridge::testing
