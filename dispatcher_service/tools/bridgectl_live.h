// bridgectl's live commands: they talk to a running dispatcher over gRPC.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "smtpbridge/tls/tls_options.h"

namespace smtpbridge::bridgectl {

struct Connection {
  std::string dispatcher;  // HOST:PORT or any gRPC target
  // Sent as "authorization: Bearer <token>" when set: from --admin-token-file or the
  // SMTPBRIDGE_ADMIN_TOKEN environment variable, never the command line.
  std::string admin_token;
  tls::TlsOptions tls;  // --tls-*: TLS (client certificate) to the dispatcher
  int timeout_ms = 5000;
};

struct TestEventOptions {
  std::string event = "INBOUND_COMMAND";
  std::string command;
  std::string sender;
  std::vector<std::string> recipients;
  std::string client = "192.0.2.1";
  std::string helo;
  uint32_t instance = 1;
  std::string budget = "200ms";
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  std::optional<uint32_t> response_code;  // SERVER_RESPONSE: the next hop's reply code
  bool json = false;
};

// Each prints its result to stdout (errors to stderr) and returns the process exit code.
int Status(const Connection& connection);
int Reload(const Connection& connection);
int TestEvent(const Connection& connection, const TestEventOptions& options);

}  // namespace smtpbridge::bridgectl
