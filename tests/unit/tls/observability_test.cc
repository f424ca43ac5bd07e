// Decision logs and trace context, end to end in one process over loopback: the real sink
// (MakeSink) → DispatcherApp → a C++ SDK worker. One event carries one trace id from the sink's
// session trace to the worker's metadata and the dispatcher's decision log line; a traceparent
// header inside the message is never used. The sink writes its own JSON line when its fallback
// answers. Tests parse the lines and check the fields.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "server/decision_log.h"
#include "server/dispatcher_app.h"
#include "smtpbridge/sink/sink_factory.h"
#include "smtpbridge/trace/traceparent.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/worker/worker.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::dispatcher {
namespace {

using nlohmann::json;

std::vector<json> JsonLines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(json::parse(line));  // throws (fails) on a bad line
  }
  return lines;
}

v1::Event Rcpt(const std::string& session, const std::string& event_id, const std::string& to) {
  v1::Event e;
  e.set_event_id(event_id);
  e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  e.mutable_session()->set_session_id(session);
  e.mutable_session()->set_instance(1);
  e.mutable_command()->set_keyword("RCPT");
  e.mutable_command()->set_argument("TO:<" + to + ">");
  e.mutable_envelope()->set_sender("Alice@Example.org");
  e.mutable_envelope()->set_has_sender(true);
  e.mutable_envelope()->set_recipient(to);
  // What an SMTP client may put in a message: content, never trusted as trace context.
  auto* h = e.mutable_message()->add_headers();
  h->set_name("traceparent");
  h->set_value("00-11111111111111111111111111111111-2222222222222222-01");
  return e;
}

sink::Evaluation EvaluateAndWait(sink::Sink& s, v1::Event event) {
  auto promise = std::make_shared<std::promise<sink::Evaluation>>();
  auto future = promise->get_future();
  s.Evaluate(std::move(event), std::chrono::seconds(5),
             [promise](sink::Evaluation e) { promise->set_value(std::move(e)); });
  if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "the sink never answered";
    return {};
  }
  return future.get();
}

TEST(DecisionLog, LineCarriesIdsBindingsVerdictAndHashedAddresses) {
  EventInfo info;
  info.type = v1::EVENT_TYPE_INBOUND_COMMAND;
  info.event_id = "e1";
  info.session_id = "s1";
  info.keyword = "RCPT";
  info.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  info.instance = 3;
  info.sender = "Alice@Example.org";
  info.recipient = "bob@example.com";
  v1::Binding a, b;
  a.set_name("a");
  a.set_priority(10);
  b.set_name("b");
  b.set_priority(20);
  b.set_mode(v1::BINDING_MODE_OBSERVE);
  std::vector<DecisionOutcome> outcomes(2);
  outcomes[0].binding = &a;
  outcomes[0].outcome.set_kind(v1::SINK_OUTCOME_KIND_ANSWERED);
  outcomes[0].outcome.mutable_verdict()->set_action(v1::ACTION_REJECT);
  *outcomes[0].outcome.mutable_latency() = v1::ToProtoDuration(std::chrono::microseconds(250));
  outcomes[1].binding = &b;
  outcomes[1].pending = true;
  v1::EvaluateResponse response;
  response.mutable_verdict()->set_action(v1::ACTION_REJECT);
  response.mutable_verdict()->mutable_reply()->set_code(550);
  response.mutable_verdict()->mutable_reply()->set_enhanced_code("5.7.1");
  response.mutable_verdict()->mutable_reply()->add_lines("AUTH secrets never appear");
  response.set_decided_by("a");
  *response.mutable_elapsed() = v1::ToProtoDuration(std::chrono::microseconds(400));

  const json line = DecisionLog::ToJson(info, response, outcomes, /*hash_addresses=*/true);
  EXPECT_EQ(line["kind"], "decision");
  EXPECT_EQ(line["event_id"], "e1");
  EXPECT_EQ(line["session_id"], "s1");
  EXPECT_EQ(line["trace_id"], info.trace_id);
  EXPECT_EQ(line["instance"], 3);
  EXPECT_EQ(line["event"], "INBOUND_COMMAND");
  EXPECT_EQ(line["keyword"], "RCPT");
  EXPECT_EQ(line["verdict"]["action"], "reject");
  EXPECT_EQ(line["verdict"]["code"], 550);
  EXPECT_EQ(line["verdict"]["enhanced_code"], "5.7.1");
  EXPECT_FALSE(line["verdict"].contains("lines"));
  EXPECT_EQ(line["decided_by"], "a");
  EXPECT_EQ(line["source"], "worker");
  EXPECT_EQ(line["latency_us"], 400);
  ASSERT_EQ(line["bindings"].size(), 2u);
  EXPECT_EQ(line["bindings"][0]["name"], "a");
  EXPECT_EQ(line["bindings"][0]["outcome"], "answered");
  EXPECT_EQ(line["bindings"][0]["verdict"], "reject");
  EXPECT_EQ(line["bindings"][0]["latency_us"], 250);
  EXPECT_EQ(line["bindings"][1]["mode"], "observe");
  EXPECT_EQ(line["bindings"][1]["outcome"], "pending");
  // Hashed, case-insensitively, never in clear.
  EXPECT_EQ(line["sender"], HashAddress("alice@example.org"));
  EXPECT_THAT(line["sender"].get<std::string>(), ::testing::StartsWith("sha256:"));
  EXPECT_EQ(line["recipient"], HashAddress("bob@example.com"));
  EXPECT_EQ(line.dump().find("example"), std::string::npos);
  EXPECT_EQ(line.dump().find("AUTH"), std::string::npos);
  EXPECT_EQ(DecisionLog::ToJson(info, response, outcomes, false)["recipient"], "bob@example.com");
}

TEST(DecisionLog, SamplingAndTheRateCapAreCounted) {
  smtpbridge::testing::TempDir dir;
  EventInfo info;
  v1::EvaluateResponse response;
  std::string error;
  auto none = DecisionLog::Open({.path = (dir / "none.log").string(), .sample_rate = 0}, &error);
  ASSERT_TRUE(none) << error;
  auto capped =
      DecisionLog::Open({.path = (dir / "capped.log").string(), .max_per_second = 3}, &error);
  ASSERT_TRUE(capped) << error;
  prometheus::Registry registry;
  capped->ExportTo(registry);
  for (int i = 0; i < 10; ++i) {
    none->Write(info, response, {});
    capped->Write(info, response, {});
  }
  EXPECT_EQ(none->written(), 0u);
  EXPECT_EQ(none->sampled_out(), 10u);
  // All ten fall in one second unless the machine stalls for a whole second between writes.
  EXPECT_GE(capped->written(), 3u);
  EXPECT_EQ(capped->written() + capped->over_cap(), 10u);
  EXPECT_EQ(JsonLines(dir / "capped.log").size(), capped->written());
  // The same counts in Prometheus.
  double exported_written = -1, exported_over_cap = -1;
  for (const auto& family : registry.Collect()) {
    if (family.name != "smtpbridge_dispatcher_decision_log_lines_total") continue;
    for (const auto& m : family.metric) {
      if (m.label.at(0).value == "written") exported_written = m.counter.value;
      if (m.label.at(0).value == "over_cap") exported_over_cap = m.counter.value;
    }
  }
  EXPECT_EQ(exported_written, static_cast<double>(capped->written()));
  EXPECT_EQ(exported_over_cap, static_cast<double>(capped->over_cap()));
  EXPECT_FALSE(DecisionLog::Open({.path = "/nonexistent/dir/x.log"}, &error));
  EXPECT_THAT(error, ::testing::HasSubstr("/nonexistent/dir/x.log"));
}

class TraceTest : public ::testing::TestWithParam<sink::Transport> {
 protected:
  void SetUp() override {
    worker::WorkerOptions w;
    w.handle_signals = false;
    worker_ = std::make_unique<worker::Worker>(w);
    worker_->On(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", [this](const worker::EventContext& ctx) {
      std::lock_guard lock(mu_);
      received_.push_back(ctx.traceparent());
      return ctx.recipient() == "blocked@example.com"
                 ? worker::Verdict::Reject(550, "5.7.1", "Recipient blocked")
                 : worker::Verdict::Continue();
    });
    const int port = worker_->Start("127.0.0.1:0");
    const auto bindings = dir_.Write(
        "bindings.yaml",
        "bindings:\n  - {name: rcpt, event: INBOUND_COMMAND, rule: RCPT, sink: \"ipv4:127.0.0.1:" +
            std::to_string(port) + "\", timeout: 5s}\n");
    AppOptions options;
    options.listen = "127.0.0.1:0";
    options.bindings_path = bindings.string();
    options.watch_interval = std::chrono::milliseconds(0);
    options.cache_entries = 0;
    options.decision_log = {.path = (dir_ / "decisions.log").string(), .hash_addresses = true};
    std::vector<std::string> errors;
    app_ = DispatcherApp::Create(options, &errors);
    ASSERT_TRUE(app_) << ::testing::PrintToString(errors);
    std::string error;
    ASSERT_TRUE(app_->Start(&error)) << error;
  }
  void TearDown() override {
    if (app_) app_->Shutdown();
    if (worker_) worker_->Shutdown();
  }
  sink::SinkOptions SinkOptionsFor(const std::string& target) const {
    sink::SinkOptions o;
    o.dispatcher_target = target;
    o.transport = GetParam();
    o.metrics_registry = std::make_shared<prometheus::Registry>();
    o.interests.enabled = false;
    o.fresh_cache.enabled = false;
    o.fallback_log = (dir_ / "fallbacks.log").string();
    return o;
  }

  smtpbridge::testing::TempDir dir_;
  std::unique_ptr<worker::Worker> worker_;
  std::unique_ptr<DispatcherApp> app_;
  std::mutex mu_;
  std::vector<std::string> received_;
};

TEST_P(TraceTest, OneEventCarriesOneTraceIdFromSinkThroughDispatcherToWorker) {
  auto s = sink::MakeSink(SinkOptionsFor("ipv4:" + app_->address()));
  const sink::Evaluation first =
      EvaluateAndWait(*s, Rcpt("session-1", "ev-1", "blocked@example.com"));
  EXPECT_EQ(first.source, sink::VerdictSource::kDispatcher);
  EXPECT_EQ(first.verdict.action(), v1::ACTION_REJECT);
  EvaluateAndWait(*s, Rcpt("session-1", "ev-2", "friend@example.com"));
  EvaluateAndWait(*s, Rcpt("session-2", "ev-3", "friend@example.com"));
  s->Shutdown();

  // The session's trace: the same id for both of session-1's events, another for session-2.
  const std::string trace_id = trace::SessionTraceId("session-1");
  std::vector<std::string> received;
  {
    std::lock_guard lock(mu_);
    received = received_;
  }
  ASSERT_EQ(received.size(), 3u);
  std::vector<trace::TraceParent> spans;
  for (const auto& r : received) {
    const auto t = trace::Parse(r);
    ASSERT_TRUE(t) << "worker got no valid traceparent: \"" << r << "\"";
    spans.push_back(*t);
  }
  EXPECT_EQ(spans[0].trace_id, trace_id);
  EXPECT_EQ(spans[1].trace_id, trace_id);
  EXPECT_EQ(spans[2].trace_id, trace::SessionTraceId("session-2"));
  EXPECT_NE(spans[0].span_id, spans[1].span_id);  // a span per event (and per worker call)
  EXPECT_NE(trace_id, "11111111111111111111111111111111");  // the message header is not trusted

  // Decision lines are written before the answer goes out: all three are there.
  const auto lines = JsonLines(dir_ / "decisions.log");
  ASSERT_EQ(lines.size(), 3u);
  const json& line = lines[0];
  EXPECT_EQ(line["kind"], "decision");
  EXPECT_EQ(line["event_id"], "ev-1");
  EXPECT_EQ(line["session_id"], "session-1");
  EXPECT_EQ(line["trace_id"], trace_id);
  EXPECT_EQ(line["instance"], 1);
  EXPECT_EQ(line["event"], "INBOUND_COMMAND");
  EXPECT_EQ(line["keyword"], "RCPT");
  EXPECT_EQ(line["verdict"]["action"], "reject");
  EXPECT_EQ(line["decided_by"], "rcpt");
  EXPECT_EQ(line["source"], "worker");
  ASSERT_EQ(line["bindings"].size(), 1u);
  EXPECT_EQ(line["bindings"][0]["name"], "rcpt");
  EXPECT_EQ(line["bindings"][0]["outcome"], "answered");
  EXPECT_EQ(line["bindings"][0]["verdict"], "reject");
  EXPECT_TRUE(line["bindings"][0].contains("latency_us"));
  EXPECT_EQ(line["recipient"], HashAddress("blocked@example.com"));
  EXPECT_EQ(lines[1]["trace_id"], trace_id);
  EXPECT_EQ(lines[2]["trace_id"], trace::SessionTraceId("session-2"));
  std::ifstream raw(dir_ / "decisions.log");
  std::stringstream text;
  text << raw.rdbuf();
  EXPECT_EQ(text.str().find("example.com"), std::string::npos) << "addresses are hashed";
  EXPECT_EQ(JsonLines(dir_ / "fallbacks.log").size(), 0u);
}

TEST_P(TraceTest, TheSinkWritesAFallbackLineWithTheSameIds) {
  const int closed = smtpbridge::testing::FreeTcpPort();
  auto s = sink::MakeSink(SinkOptionsFor("ipv4:127.0.0.1:" + std::to_string(closed)));
  const sink::Evaluation e = EvaluateAndWait(*s, Rcpt("session-9", "ev-9", "a@example.com"));
  s->Shutdown();
  EXPECT_EQ(e.source, sink::VerdictSource::kDefault);
  const auto lines = JsonLines(dir_ / "fallbacks.log");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["kind"], "fallback");
  EXPECT_EQ(lines[0]["event_id"], "ev-9");
  EXPECT_EQ(lines[0]["session_id"], "session-9");
  EXPECT_EQ(lines[0]["trace_id"], trace::SessionTraceId("session-9"));
  EXPECT_EQ(lines[0]["reason"], std::string(sink::FallbackReasonName(e.reason)));
  EXPECT_EQ(lines[0]["source"], "default");
  EXPECT_EQ(lines[0]["budget_us"], 5000000);
  EXPECT_EQ(lines[0]["keyword"], "RCPT");
  EXPECT_FALSE(lines[0].contains("recipient"));
}

INSTANTIATE_TEST_SUITE_P(Transports, TraceTest,
                         ::testing::Values(sink::Transport::kUnary, sink::Transport::kStream),
                         [](const auto& info) {
                           return info.param == sink::Transport::kUnary ? std::string("Unary")
                                                                        : std::string("Stream");
                         });

TEST(TraceParent, ParsesOnlyValidValues) {
  const auto t = trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->span_id, "00f067aa0ba902b7");
  EXPECT_EQ(t->ToString(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_FALSE(trace::Parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_FALSE(trace::Parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(trace::Parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
  EXPECT_TRUE(trace::Parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
  EXPECT_FALSE(trace::Parse("garbage"));
  const auto child = trace::Child(*t);
  EXPECT_EQ(child.trace_id, t->trace_id);
  EXPECT_NE(child.span_id, t->span_id);
  EXPECT_EQ(trace::SessionTraceId("s"), trace::SessionTraceId("s"));
  EXPECT_NE(trace::SessionTraceId("s"), trace::SessionTraceId("t"));
}

TEST(TraceParent, NewIdsAreFreshHexAndSessionIdsDoNotDependOnTheThreadOrOrder) {
  std::set<std::string> spans;
  for (int i = 0; i < 1000; ++i) {
    const std::string span = trace::NewSpanId();
    ASSERT_EQ(span.size(), 16u);
    ASSERT_EQ(span.find_first_not_of("0123456789abcdef"), std::string::npos) << span;
    spans.insert(span);
  }
  EXPECT_EQ(spans.size(), 1000u);
  const std::string trace_id = trace::NewTraceId();
  EXPECT_TRUE(trace::Parse("00-" + trace_id + "-" + trace::NewSpanId() + "-01"));
  EXPECT_NE(trace::NewTraceId(), trace_id);
  // The id a session gets is the same whatever this thread hashed last, and on another thread.
  const std::string s = trace::SessionTraceId("s");
  const std::string t = trace::SessionTraceId("t");
  EXPECT_EQ(trace::SessionTraceId("s"), s);
  EXPECT_EQ(trace::SessionTraceId("t"), t);
  std::string elsewhere;
  std::thread([&] { elsewhere = trace::SessionTraceId("s"); }).join();
  EXPECT_EQ(elsewhere, s);
  std::string other_span;
  std::thread([&] { other_span = trace::NewSpanId(); }).join();
  EXPECT_EQ(spans.count(other_span), 0u);
}

}  // namespace
}  // namespace smtpbridge::dispatcher
