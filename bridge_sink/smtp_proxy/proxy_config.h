// The proxy's configuration: where it listens, its one next hop, budgets per event type, limits
// and timeouts. Loaded from YAML (errors name the file, line and field); flags override a few.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "smtpbridge/v1/event.pb.h"

namespace smtpbridge::proxy {

using Duration = std::chrono::milliseconds;

struct ProxyLimits {
  size_t max_command_line = 512;  // octets including CRLF (RFC 5321 §4.5.3.1.4)
  size_t max_text_line = 1000;    // octets including CRLF (RFC 5321 §4.5.3.1.6)
  size_t max_sessions = 1000;
  size_t max_recipients = 1000;
  uint64_t max_message_size = 10 * 1024 * 1024;
  int max_errors = 20;  // syntax/sequence errors before the session is closed
};

struct ProxyTimeouts {
  Duration idle{std::chrono::minutes(5)};      // waiting for a client command or data line
  Duration session{std::chrono::minutes(30)};  // whole client session
  Duration next_hop_connect{std::chrono::seconds(10)};
  Duration next_hop_reply{std::chrono::minutes(5)};  // per command (RFC 5321 §4.5.3.2)
  Duration next_hop_data{std::chrono::minutes(10)};  // reply after the final "."
  Duration tls_handshake{std::chrono::seconds(30)};
  // Added to a budget before the proxy stops waiting for a sink that broke its promise.
  Duration sink_grace{std::chrono::milliseconds(100)};
};

struct ProxyConfig {
  std::string listen = "127.0.0.1:2525";
  std::string next_hop = "127.0.0.1:2526";
  uint32_t instance = 1;
  std::string hostname = "localhost";
  std::string banner = "ESMTP smtpbridge";
  int threads = 0;  // 0: one per core
  bool chunking = true;
  std::string tls_cert;
  std::string tls_key;
  ProxyLimits limits;
  ProxyTimeouts timeouts;
  // Budget per event type; "_EOD" has its own entry.
  Duration default_budget{std::chrono::milliseconds(20)};
  Duration eod_budget{std::chrono::milliseconds(200)};
  std::map<v1::EventType, Duration> budgets;

  bool tls_enabled() const { return !tls_cert.empty() && !tls_key.empty(); }
  Duration BudgetFor(v1::EventType type, bool eod) const;
};

// Throws std::runtime_error("proxy.yaml:12: limits.max_recipients: ...") on bad input.
ProxyConfig LoadProxyConfig(const std::string& path);
ProxyConfig ParseProxyConfig(const std::string& yaml_text, const std::string& source_name);

// "127.0.0.1:2525" / "[::1]:25" -> host, port (host::ParseHostPort). False when malformed.
bool SplitHostPort(const std::string& text, std::string* host, uint16_t* port);

}  // namespace smtpbridge::proxy
