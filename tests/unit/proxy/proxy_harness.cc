#include "proxy_harness.h"

#include <boost/asio/executor_work_guard.hpp>

namespace smtpbridge::testing {

proxy::ProxyConfig ProxyHarness::TestConfig() {
  proxy::ProxyConfig c;
  c.listen = "127.0.0.1:0";
  c.hostname = "proxy.test";
  c.timeouts.idle = std::chrono::seconds(5);
  c.timeouts.next_hop_reply = std::chrono::seconds(5);
  c.timeouts.next_hop_data = std::chrono::seconds(5);
  c.timeouts.next_hop_connect = std::chrono::seconds(5);
  c.timeouts.sink_grace = std::chrono::milliseconds(50);
  return c;
}

ProxyHarness::ProxyHarness(proxy::ProxyConfig config, bool start_next_hop) {
  if (start_next_hop) {
    const int hop = next_hop_.Start();
    config.next_hop = "127.0.0.1:" + std::to_string(hop);
  }
  server_ = std::make_unique<proxy::ProxyServer>(io_, config, sink_);
  port_ = server_->Start().port();
  for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
}

ProxyHarness::~ProxyHarness() {
  server_->Stop();
  // Sessions close at their next read; give them a bounded moment, then stop.
  for (int i = 0; i < 200 && server_->active_sessions() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  io_.stop();
  for (auto& t : threads_) t.join();
  server_.reset();
  next_hop_.Stop();
}

}  // namespace smtpbridge::testing
