// The proxy's YAML: defaults, values, and errors that name the file, line and field.
#include "proxy_config.h"

#include <gtest/gtest.h>

namespace smtpbridge::proxy {
namespace {

TEST(ProxyConfig, Defaults) {
  ProxyConfig c = ParseProxyConfig("", "p.yaml");
  EXPECT_EQ(c.limits.max_command_line, 512u);
  EXPECT_EQ(c.limits.max_text_line, 1000u);
  EXPECT_EQ(c.BudgetFor(v1::EVENT_TYPE_INBOUND_COMMAND, false), std::chrono::milliseconds(20));
  EXPECT_EQ(c.BudgetFor(v1::EVENT_TYPE_INBOUND_COMMAND, true), std::chrono::milliseconds(200));
}

TEST(ProxyConfig, Values) {
  ProxyConfig c = ParseProxyConfig(R"(
listen: 127.0.0.1:0
next_hop: 127.0.0.1:2526
instance: 2
hostname: mx.example
budgets:
  default: 15ms
  SERVER_RESPONSE: 5ms
  _EOD: 300ms
limits:
  max_recipients: 50
  max_message_size: 2048
timeouts:
  idle: 2s
)",
                                   "p.yaml");
  EXPECT_EQ(c.instance, 2u);
  EXPECT_EQ(c.hostname, "mx.example");
  EXPECT_EQ(c.BudgetFor(v1::EVENT_TYPE_SERVER_RESPONSE, false), std::chrono::milliseconds(5));
  EXPECT_EQ(c.BudgetFor(v1::EVENT_TYPE_PER_RECIPIENT, false), std::chrono::milliseconds(15));
  EXPECT_EQ(c.eod_budget, std::chrono::milliseconds(300));
  EXPECT_EQ(c.limits.max_recipients, 50u);
  EXPECT_EQ(c.timeouts.idle, std::chrono::seconds(2));
}

void ExpectError(const std::string& yaml, const std::string& fragment) {
  try {
    ParseProxyConfig(yaml, "p.yaml");
    ADD_FAILURE() << "no error for: " << yaml;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(ProxyConfig, Errors) {
  ExpectError("limits:\n  max_command_line: 100\n",
              "p.yaml:2: limits.max_command_line: must be between 512");
  ExpectError("limits:\n  max_recipients: -1\n", "limits.max_recipients");
  ExpectError("timeouts:\n  idle: soon\n", "p.yaml:2: timeouts.idle: expected a duration");
  ExpectError("budgets:\n  ON_FIRE: 1ms\n", "budgets.ON_FIRE: unknown event type");
  ExpectError("next_hop: nowhere\n", "p.yaml:1: next_hop");
  ExpectError("colour: blue\n", "colour: unknown field");
  ExpectError("tls:\n  cert: a.pem\n", "tls: cert and key go together");
  ExpectError("listen: [1, 2\n", "p.yaml:");
}

}  // namespace
}  // namespace smtpbridge::proxy
