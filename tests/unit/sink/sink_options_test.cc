// LoadSinkOptions: the documented format, and errors that name file:line and the field.
#include <gtest/gtest.h>

#include "smtpbridge/sink/sink_factory.h"
#include "support/temp_dir.h"

namespace smtpbridge::sink {
namespace {

using std::chrono::milliseconds;

TEST(SinkOptions, ReadsEveryField) {
  smtpbridge::testing::TempDir dir;
  const auto path = dir.Write("sink.yaml", R"(# other sections of a host config are ignored
proxy:
  listen: 127.0.0.1:2525
sink:
  dispatcher: dns:///dispatcher.example:50050
  transport: unary
  host_name: mx1.example
  default: continue
  defaults_by_event:
    CONNECT: {action: tempfail, reply: "451 4.3.0 Policy service unavailable"}
    OnSmtpPerRecipient: skip_recipient
  breaker:
    enabled: true
    failure_threshold: 3
    open_for: 500ms
    failure_rate_percent: 80
    failure_rate_min_calls: 100
    failure_rate_window: 30s
  fresh_cache:
    enabled: false
    max_entries: 77
  stale_cache:
    enabled: true
    ttl: 2m
    max_entries: 500
  interests:
    enabled: false
    refresh_after: 10s
    retry_after: 1s
    timeout: 250ms
    unknown_body_limit: 65536
  local_rules: rules.yaml
  grpc_deadline_slack: 1ms
  keep_late_answers: true
  late_answer_window: 2s
  warn_interval: 30s
  tls:
    ca_file: ca.pem
    cert_file: /etc/smtpbridge/host.pem
    key_file: /etc/smtpbridge/host.key
    server_name: dispatcher.example
)");
  const SinkOptions o = LoadSinkOptions(path.string());
  EXPECT_EQ(o.dispatcher_target, "dns:///dispatcher.example:50050");
  EXPECT_EQ(o.transport, Transport::kUnary);
  EXPECT_EQ(o.host_name, "mx1.example");
  EXPECT_EQ(o.default_verdict.action(), v1::ACTION_CONTINUE);
  ASSERT_EQ(o.default_verdicts.size(), 2u);
  const v1::Verdict& connect = o.default_verdicts.at(v1::EVENT_TYPE_CONNECT);
  EXPECT_EQ(connect.action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(connect.reply().code(), 451u);
  EXPECT_EQ(connect.reply().enhanced_code(), "4.3.0");
  EXPECT_EQ(o.default_verdicts.at(v1::EVENT_TYPE_PER_RECIPIENT).action(),
            v1::ACTION_SKIP_RECIPIENT);
  EXPECT_EQ(o.breaker.failure_threshold, 3u);
  EXPECT_EQ(o.breaker.open_for, milliseconds(500));
  EXPECT_EQ(o.breaker.failure_rate_percent, 80u);
  EXPECT_EQ(o.breaker.failure_rate_min_calls, 100u);
  EXPECT_EQ(o.breaker.failure_rate_window, milliseconds(30000));
  EXPECT_FALSE(o.fresh_cache.enabled);
  EXPECT_EQ(o.fresh_cache.max_entries, 77u);
  EXPECT_EQ(o.stale_cache.ttl, milliseconds(120000));
  EXPECT_EQ(o.stale_cache.max_entries, 500u);
  EXPECT_FALSE(o.interests.enabled);
  EXPECT_EQ(o.interests.refresh_after, milliseconds(10000));
  EXPECT_EQ(o.interests.retry_after, milliseconds(1000));
  EXPECT_EQ(o.interests.timeout, milliseconds(250));
  EXPECT_EQ(o.interests.unknown_body_limit, 65536u);
  EXPECT_EQ(o.local_rules_file, (dir.path() / "rules.yaml").string());
  EXPECT_EQ(o.grpc_deadline_slack, std::chrono::microseconds(1000));
  EXPECT_TRUE(o.keep_late_answers);
  EXPECT_EQ(o.late_answer_window, milliseconds(2000));
  EXPECT_EQ(o.warn_interval, milliseconds(30000));
  EXPECT_TRUE(o.tls.enabled);
  EXPECT_EQ(o.tls.ca_file, (dir.path() / "ca.pem").string());
  EXPECT_EQ(o.tls.cert_file, "/etc/smtpbridge/host.pem");
  EXPECT_EQ(o.tls.key_file, "/etc/smtpbridge/host.key");
  EXPECT_EQ(o.tls.server_name, "dispatcher.example");
}

TEST(SinkOptions, EmptySectionGivesDefaults) {
  smtpbridge::testing::TempDir dir;
  const SinkOptions o = LoadSinkOptions(dir.Write("sink.yaml", "sink:\n").string());
  EXPECT_EQ(o.dispatcher_target, "ipv4:127.0.0.1:50050");
  EXPECT_EQ(o.transport, Transport::kAuto);
  EXPECT_TRUE(o.breaker.enabled);
  EXPECT_EQ(o.breaker.failure_threshold, 5u);
  EXPECT_EQ(o.breaker.failure_rate_percent, 50u);
  EXPECT_EQ(o.breaker.failure_rate_min_calls, 50u);
  EXPECT_TRUE(o.fresh_cache.enabled);
  EXPECT_EQ(o.fresh_cache.max_entries, 10000u);
}

void ExpectError(const std::string& yaml, const std::string& where) {
  smtpbridge::testing::TempDir dir;
  const auto path = dir.Write("sink.yaml", yaml);
  try {
    LoadSinkOptions(path.string());
    ADD_FAILURE() << "no error for:\n" << yaml;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ":" + where), std::string::npos)
        << e.what();
  }
}

TEST(SinkOptions, ErrorsNameFileLineAndField) {
  ExpectError("sink:\n  breaker:\n    failure_threshold: 0\n", "3: sink.breaker.failure_threshold");
  ExpectError("sink:\n  breaker:\n    failure_threshold: many\n",
              "3: sink.breaker.failure_threshold");
  ExpectError("sink:\n  breaker:\n    open_for: soon\n", "3: sink.breaker.open_for");
  ExpectError("sink:\n  stale_cache:\n    ttl: -1s\n", "3: sink.stale_cache.ttl");
  ExpectError("sink:\n  breaker:\n    failure_rate_percent: 101\n",
              "3: sink.breaker.failure_rate_percent");
  ExpectError("sink:\n  breaker:\n    failure_rate_min_calls: 0\n",
              "3: sink.breaker.failure_rate_min_calls");
  ExpectError("sink:\n  fresh_cache:\n    max_entries: lots\n", "3: sink.fresh_cache.max_entries");
  ExpectError("sink:\n  fresh_cache:\n    ttl: 1s\n", "3: sink.fresh_cache.ttl");
  ExpectError("sink:\n  dispatcher: x\n  colour: red\n", "3: sink.colour");
  ExpectError("sink:\n  default: maybe\n", "2: sink.default.action");
  ExpectError("sink:\n  default: {action: reject, reply: \"250 ok\"}\n", "2: sink.default.reply");
  ExpectError("sink:\n  default: {action: respond}\n", "2: sink.default.reply");
  ExpectError("sink:\n  defaults_by_event:\n    NOPE: continue\n",
              "3: sink.defaults_by_event.NOPE");
  ExpectError("sink:\n  interests:\n    enabled: sometimes\n", "3: sink.interests.enabled");
  ExpectError("sink:\n  dispatcher: \"\"\n", "2: sink.dispatcher");
  ExpectError("sink:\n  transport: carrier-pigeon\n", "2: sink.transport");
  ExpectError("sink:\n  breaker: [1, 2]\n", "2: sink.breaker");
  ExpectError("sink:\n  tls:\n    cert_file: a.pem\n", "3: sink.tls");
  ExpectError("proxy: {}\n", "1: sink");
  ExpectError("sink: {\n", "");
}

TEST(SinkOptions, MissingFileIsAClearError) {
  EXPECT_THROW(LoadSinkOptions("/nonexistent/sink.yaml"), std::runtime_error);
}

}  // namespace
}  // namespace smtpbridge::sink
