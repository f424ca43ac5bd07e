// Trace context across processes and languages (#10): one Postfix policy request through
// smtpbridge-policyd (its sink starts the trace) → smtpbridge-dispatcher (--log-format json,
// a decision log) → two workers in other languages bound to the same event: the Python SDK's
// example worker and the Go SDK's. The one trace id of that event is found in every process's
// log line for the event (policyd's sink line and the dispatcher's decision line, JSON; each
// worker's per-event debug line, text: those SDKs log text) and in the decision log.
//
// The SDK workers come from the `sdk_workers` ctest fixture (prepare_sdk_workers.sh); without a
// Python or Go toolchain the test skips and says which.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "stack.h"

namespace smtpbridge::integration {
namespace {

using nlohmann::json;

std::string Read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::filesystem::path FromEnvOr(const char* var, const char* built) {
  if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return v;
  return built;
}

// Lines of a --log-format json log: every line must be one JSON object; returns their "msg".
std::vector<std::string> JsonLogMessages(const std::filesystem::path& log) {
  std::vector<std::string> messages;
  for (const auto& line : Lines(log)) {
    const auto j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object() && j.contains("msg") && j.contains("level") && j.contains("ts"))
        << log.filename() << ": not a JSON log line: " << line;
    if (j.is_object() && j.contains("msg")) messages.push_back(j["msg"].get<std::string>());
  }
  return messages;
}

// The lines (or messages) that name `event_id`; each of them must carry `trace_id`.
size_t LinesForEventWithTrace(const std::vector<std::string>& lines, const std::string& event_id,
                              const std::string& trace_id, const std::string& what) {
  size_t n = 0;
  for (const auto& line : lines) {
    if (line.find("event_id=" + event_id) == std::string::npos) continue;
    ++n;
    EXPECT_NE(line.find("trace_id=" + trace_id), std::string::npos)
        << what << ": a line for the event without its trace id: " << line;
  }
  return n;
}

TEST(TraceAcrossLanguages, OneTraceIdInEveryProcessLogAndTheDecisionLog) {
  const auto python = FromEnvOr("SMTPBRIDGE_SDK_PYTHON", SMTPBRIDGE_SDK_PYTHON_DEFAULT);
  const auto go_worker =
      FromEnvOr("SMTPBRIDGE_GO_EXAMPLE_WORKER", SMTPBRIDGE_GO_EXAMPLE_WORKER_DEFAULT);
  if (!std::filesystem::exists(python)) {
    GTEST_SKIP() << "no Python SDK environment at " << python
                 << " (python3 was not on PATH when prepare_sdk_workers.sh ran)";
  }
  if (!std::filesystem::exists(go_worker)) {
    GTEST_SKIP() << "no Go example worker at " << go_worker
                 << " (go was not on PATH when prepare_sdk_workers.sh ran)";
  }
  testing::TempDir dir;

  auto py = testing::StartReady(dir.path(), "python-worker",
                                {python.string(), SMTPBRIDGE_PYTHON_EXAMPLE_WORKER, "--listen",
                                 "127.0.0.1:0", "--log-level", "debug"},
                                std::chrono::seconds(60));
  auto go =
      testing::StartReady(dir.path(), "go-worker",
                          {go_worker.string(), "--listen", "127.0.0.1:0", "--log-level", "debug"});

  // Two bindings on the same event: Python's first (it continues on RCPT), then Go's, which
  // rejects the blocked recipient. Both calls finish before the decision.
  const auto bindings = dir.Write(
      "bindings.yaml",
      BindingsYaml({{.name = "python-rcpt", .sink = py.address, .priority = 100, .timeout = "5s"},
                    {.name = "go-rcpt",
                     .sink = go.address,
                     .priority = 200,
                     .timeout = "5s",
                     .properties = {{"blocked", "blocked@example.com"}}}}));
  const auto decisions = dir / "decisions.log";
  auto dispatcher =
      testing::StartReady(dir.path(), "dispatcher",
                          {DispatcherBinary().string(), "--listen", "127.0.0.1:0", "--bindings",
                           bindings.string(), "--log-format", "json", "--log-level", "info",
                           "--decision-log", decisions.string(), "--drain-timeout", "500ms"});
  const auto sink_config =
      dir.Write("sink.yaml", "sink:\n  dispatcher: \"ipv4:" + dispatcher.address +
                                 "\"\n  fallback_log: " + (dir / "fallbacks.log").string() + "\n");
  auto policyd = testing::StartReady(
      dir.path(), "policyd",
      {PolicydBinary().string(), "--listen", "127.0.0.1:0", "--sink-config", sink_config.string(),
       "--budget", "5s", "--log-format", "json", "--log-level", "debug"});

  // The Go worker's reject, through both hops (a fallback would answer DUNNO).
  const std::string answer = PolicyRequest(policyd.port(), "blocked@example.com");
  EXPECT_EQ(answer.rfind("action=5", 0), 0u) << "policyd answered \"" << answer << "\"";
  // Stopped, so every log is complete.
  for (auto* s : {&policyd, &dispatcher, &go, &py}) s->process->Stop();
  EXPECT_EQ(Read(dir / "fallbacks.log"), "");

  // The decision log names the event and its trace, with both bindings answered.
  const auto decision_lines = Lines(decisions);
  ASSERT_EQ(decision_lines.size(), 1u);
  const json decision = json::parse(decision_lines[0]);
  const std::string event_id = decision["event_id"];
  const std::string trace_id = decision["trace_id"];
  ASSERT_FALSE(event_id.empty());
  ASSERT_TRUE(std::regex_match(trace_id, std::regex("[0-9a-f]{32}"))) << trace_id;
  EXPECT_EQ(decision["verdict"]["action"], "reject");
  EXPECT_EQ(decision["decided_by"], "go-rcpt");
  ASSERT_EQ(decision["bindings"].size(), 2u);
  for (const auto& b : decision["bindings"]) EXPECT_EQ(b["outcome"], "answered") << b.dump();

  // Every process has a line for the event, and each such line carries the trace id.
  const auto policyd_log = dir / "policyd.log";
  const auto dispatcher_log = dir / "dispatcher.log";
  EXPECT_GE(LinesForEventWithTrace(JsonLogMessages(policyd_log), event_id, trace_id, "policyd"), 1u)
      << Read(policyd_log);
  EXPECT_GE(
      LinesForEventWithTrace(JsonLogMessages(dispatcher_log), event_id, trace_id, "dispatcher"), 1u)
      << Read(dispatcher_log);
  const auto py_log = dir / "python-worker.log";
  const auto go_log = dir / "go-worker.log";
  EXPECT_GE(LinesForEventWithTrace(Lines(py_log), event_id, trace_id, "python worker"), 1u)
      << Read(py_log);
  EXPECT_GE(LinesForEventWithTrace(Lines(go_log), event_id, trace_id, "go worker"), 1u)
      << Read(go_log);
}

}  // namespace
}  // namespace smtpbridge::integration
