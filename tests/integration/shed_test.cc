// Admission control end to end: a dispatcher at its in-flight limit answers the next event at
// once as shed (unary: RESOURCE_EXHAUSTED "shed: in_flight"), and the real sink turns that into
// its fallback with reason `shed`, without touching its breaker. Both sides log it: the
// dispatcher's decision log line (outcome "shed") and the sink's fallback line (reason "shed").
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;

Server StartLimitedDispatcher(const testing::TempDir& dir, const std::filesystem::path& bindings,
                              std::vector<std::string> extra) {
  const auto ready = dir / "limited.ready";
  std::vector<std::string> argv{DispatcherBinary().string(), "--listen", "127.0.0.1:0",
                                "--bindings", bindings.string(), "--log-level", "error",
                                "--drain-timeout", "500ms", "--ready-file", ready.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Server s;
  s.process = std::make_unique<testing::Process>(argv, dir / "limited.log");
  auto address = s.process->WaitForReadyFile(ready);
  if (!address) throw std::runtime_error("dispatcher did not become ready");
  s.address = *address;
  return s;
}

grpc::Status Evaluate(v1::Dispatcher::Stub& stub, std::chrono::milliseconds budget) {
  v1::EvaluateRequest request;
  *request.mutable_event() = RcptEvent("a@example.com", budget);
  v1::EvaluateResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + budget + 5s);
  return stub.Evaluate(&ctx, request, &response);
}

std::vector<nlohmann::json> JsonLines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));  // throws on a bad line
  }
  return lines;
}

TEST(ShedTest, OverTheInFlightLimitEventsAreShedAndTheSinkFallsBackWithReasonShed) {
  testing::TempDir dir;
  const auto file = dir.Write("bindings.yaml",
                              BindingsYaml({{.name = "slow", .sink = Workers::Hanging().address,
                                             .timeout = "3s"}}));
  const auto decisions = dir / "decisions.log";
  auto dispatcher = StartLimitedDispatcher(
      dir, file, {"--max-in-flight", "1", "--decision-log", decisions.string()});
  auto stub = DispatcherStub(dispatcher.address);

  // One event holds the only slot (its worker never answers; it ends at its 3 s budget). Shed
  // itself when one of the probes below holds the slot at that moment, it tries again.
  // Probes pause between them, so the holder finds the slot free.
  std::thread holder([&] {
    for (int i = 0; i < 2000; ++i) {
      if (Evaluate(*stub, 3000ms).error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) return;
      std::this_thread::sleep_for(1ms);
    }
  });
  grpc::Status shed;
  for (int i = 0; i < 50; ++i) {
    shed = Evaluate(*stub, 200ms);
    if (shed.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(shed.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(shed.error_message(), "shed: in_flight");

  // Both transports: unary (RESOURCE_EXHAUSTED) and the event stream (the in-band marker).
  for (const auto transport : {sink::Transport::kUnary, sink::Transport::kStream}) {
    auto options = TestSinkOptions(dispatcher.address);
    options.transport = transport;
    options.fallback_log = (dir / "fallbacks.log").string();
    auto sink = sink::MakeSink(options);
    ASSERT_TRUE(sink);
    for (int i = 0; i < 10; ++i) {
      const auto e = EvaluateAndWait(*sink, RcptEvent("b@example.com", 1000ms), 1000ms);
      ASSERT_TRUE(e.has_value());
      EXPECT_EQ(e->reason, sink::FallbackReason::kShed) << sink::FallbackReasonName(e->reason);
      EXPECT_EQ(e->source, sink::VerdictSource::kDefault);
    }
    sink->Shutdown();
  }
  holder.join();

  // The sink's fallback lines: 10 per transport, each reason "shed".
  const auto fallbacks = JsonLines(dir / "fallbacks.log");
  EXPECT_EQ(fallbacks.size(), 20u);
  for (const auto& line : fallbacks) {
    EXPECT_EQ(line["kind"], "fallback");
    EXPECT_EQ(line["reason"], "shed") << line.dump();
    EXPECT_EQ(line["keyword"], "RCPT");
  }
  // The dispatcher's decision lines (written before each answer): one per shed event, outcome
  // "shed", and the sink's shed events among them by event id.
  size_t shed_lines = 0;
  std::set<std::string> shed_ids;
  for (const auto& line : JsonLines(decisions)) {
    if (line["outcome"] != "shed") continue;
    ++shed_lines;
    shed_ids.insert(line["event_id"].get<std::string>());
    EXPECT_EQ(line["shed_reason"], "in_flight") << line.dump();
    EXPECT_EQ(line["source"], "shed") << line.dump();
    ASSERT_EQ(line["bindings"].size(), 1u) << line.dump();
    EXPECT_EQ(line["bindings"][0]["name"], "slow");
    EXPECT_EQ(line["bindings"][0]["outcome"], "shed");
  }
  EXPECT_GE(shed_lines, 21u);  // the probe's and the sinks' 20 at least
  for (const auto& line : fallbacks) {
    EXPECT_TRUE(shed_ids.count(line["event_id"].get<std::string>())) << line.dump();
  }
}

}  // namespace
}  // namespace smtpbridge::integration
