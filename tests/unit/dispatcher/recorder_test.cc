// The dispatcher's log lines (server/recorder.cc): worker-supplied text is escaped, so a CR/LF in
// a worker's reason or error cannot forge a log line, and the decision line shows the reply the
// host enforces (the contract's default when the verdict has none).
#include "server/recorder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <sstream>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {
namespace {

using ::testing::HasSubstr;

class RecorderLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("recorder-test", sink);
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }
  size_t Lines() {
    const std::string s = out_.str();
    return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
  Recorder recorder_{nullptr, nullptr};
};

TEST_F(RecorderLogTest, WorkerTextIsEscapedAndTheEnforcedReplyIsLogged) {
  EventInfo event;
  event.event_id = "ev-1";
  event.keyword = "RCPT";
  v1::EvaluateResponse response;
  response.set_decided_by("rbl");
  response.mutable_verdict()->set_action(v1::ACTION_REJECT);  // no reply: 550 5.7.1 applies
  response.mutable_verdict()->set_reason("listed\r\ndecision action=continue decided_by=forged");
  recorder_.OnDecision(event, response);
  EXPECT_EQ(Lines(), 1u);
  EXPECT_THAT(out_.str(), HasSubstr("reply=\"550 5.7.1\""));
  EXPECT_THAT(out_.str(),
              HasSubstr("reason=\"listed\\r\\ndecision action=continue decided_by=forged\""));

  v1::Binding binding;
  binding.set_name("w");
  v1::SinkOutcome outcome;
  outcome.set_kind(v1::SINK_OUTCOME_KIND_ERROR);
  outcome.set_error("error: boom\nworker ok binding=forged");
  recorder_.OnOutcome(event, binding, outcome);
  EXPECT_EQ(Lines(), 2u);
  EXPECT_THAT(out_.str(), HasSubstr("error=\"error: boom\\nworker ok binding=forged\""));
}

TEST_F(RecorderLogTest, LinesCarryTheTraceId) {
  EventInfo event;
  event.event_id = "ev-2";
  event.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  v1::EvaluateResponse response;
  response.set_decided_by("rbl");
  response.mutable_verdict()->set_action(v1::ACTION_REJECT);
  recorder_.OnDecision(event, response);
  v1::Binding binding;
  binding.set_name("w");
  v1::SinkOutcome outcome;
  outcome.set_kind(v1::SINK_OUTCOME_KIND_TIMEOUT);
  recorder_.OnOutcome(event, binding, outcome);
  ASSERT_EQ(Lines(), 2u);
  EXPECT_THAT(out_.str(), HasSubstr("decision action=reject decided_by=rbl event_id=ev-2 session= "
                                    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736"));
  EXPECT_THAT(out_.str(),
              HasSubstr("event_id=ev-2 session= trace_id=4bf92f3577b34da6a3ce929d0e0e4736 event="));
  // Without a traceparent: a dash, never an empty field.
  event.trace_id.clear();
  recorder_.OnDecision(event, response);
  EXPECT_THAT(out_.str(), HasSubstr("trace_id=- event="));
}

// smtpbridge_dispatcher_binding_call_seconds{binding}: each call's time, but not a cancelled
// call's (it says nothing about the worker) nor a cached outcome's (no call).
TEST(RecorderMetrics, WorkerCallTimeIsObservedPerBinding) {
  Metrics metrics("");
  Recorder recorder(nullptr, &metrics);
  EventInfo event;
  v1::Binding binding;
  binding.set_name("rbl");
  auto outcome = [](v1::SinkOutcomeKind kind, std::chrono::milliseconds latency) {
    v1::SinkOutcome o;
    o.set_kind(kind);
    if (latency.count() > 0) *o.mutable_latency() = v1::ToProtoDuration(latency);
    return o;
  };
  recorder.OnOutcome(event, binding,
                     outcome(v1::SINK_OUTCOME_KIND_ANSWERED, std::chrono::milliseconds(3)));
  recorder.OnOutcome(event, binding,
                     outcome(v1::SINK_OUTCOME_KIND_TIMEOUT, std::chrono::milliseconds(50)));
  recorder.OnOutcome(event, binding,
                     outcome(v1::SINK_OUTCOME_KIND_CANCELLED, std::chrono::milliseconds(1)));
  recorder.OnOutcome(event, binding,
                     outcome(v1::SINK_OUTCOME_KIND_CACHED, std::chrono::milliseconds(0)));
  bool found = false;
  for (const auto& family : metrics.registry().Collect()) {
    if (family.name != "smtpbridge_dispatcher_binding_call_seconds") continue;
    ASSERT_EQ(family.metric.size(), 1u);
    EXPECT_EQ(family.metric[0].label[0].value, "rbl");
    EXPECT_EQ(family.metric[0].histogram.sample_count, 2u);
    EXPECT_NEAR(family.metric[0].histogram.sample_sum, 0.053, 1e-9);
    found = true;
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace smtpbridge::dispatcher
