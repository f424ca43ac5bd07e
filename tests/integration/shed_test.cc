// Admission control end to end: a dispatcher at its in-flight limit answers the next event at
// once as shed (unary: RESOURCE_EXHAUSTED "shed: in_flight"), and the real sink turns that into
// its fallback with reason `shed`, without touching its breaker. Both sides log it: the
// dispatcher's decision log line (outcome "shed") and the sink's fallback line (reason "shed").
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;

Server StartLimitedDispatcher(const testing::TempDir& dir, const std::filesystem::path& bindings,
                              std::vector<std::string> extra) {
  const auto ready = dir / "limited.ready";
  std::vector<std::string> argv{DispatcherBinary().string(),
                                "--listen",
                                "127.0.0.1:0",
                                "--bindings",
                                bindings.string(),
                                "--log-level",
                                "error",
                                "--drain-timeout",
                                "500ms",
                                "--ready-file",
                                ready.string()};
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
  const auto file = dir.Write(
      "bindings.yaml",
      BindingsYaml({{.name = "slow", .sink = Workers::Hanging().address, .timeout = "3s"}}));
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

#if defined(__SANITIZE_ADDRESS__)
#define SMTPBRIDGE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMTPBRIDGE_ASAN 1
#endif
#endif
#ifdef SMTPBRIDGE_ASAN
constexpr long kRssGrowthBoundKib = (64 + 256) * 1024;
#else
constexpr long kRssGrowthBoundKib = 64 * 1024;
#endif

// Resident memory of `pid` in KiB (VmRSS of /proc/PID/status); -1 when unreadable.
long ResidentKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// The value of smtpbridge_sink_fallbacks_total{reason="shed"} in a sink's registry.
double SinkShedFallbacks(prometheus::Registry& registry) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "smtpbridge_sink_fallbacks_total") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "reason" && l.value == "shed") return m.counter.value;
      }
    }
  }
  return -1;
}

// What the answers to one burst were.
struct BurstTally {
  std::mutex mu;
  std::condition_variable cv;
  int issued = 0;
  int answered = 0;
  int shed = 0;      // the sink's fallback, reason shed (its stale cache or default verdict)
  int rejected = 0;  // the worker's verdict through the dispatcher
  std::vector<std::string> other;  // anything else: what it was
};

// #13: a burst far above the dispatcher's limits, through real gRPC from two sinks (unary and
// stream). The excess is shed (RESOURCE_EXHAUSTED / the stream's marker; the sink's fallback,
// reason shed; both sides count it); every admitted event is answered by the worker, none runs
// out of its budget; what the dispatcher holds drains back to 0 and its resident memory stays
// bounded over the bursts. No timing is asserted.
TEST(ShedTest, ABurstFarOverTheLimitsIsShedAdmittedEventsAreAnsweredMemoryStaysBounded) {
  testing::TempDir dir;
  const auto file =
      dir.Write("bindings.yaml",
                BindingsYaml({{.name = "slow", .sink = Workers::Slow().address, .timeout = "3s"}}));
  const int metrics_port = testing::FreeTcpPort();
  auto dispatcher = StartLimitedDispatcher(
      dir, file,
      {"--max-in-flight", "4", "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});

  // Before the sinks: their callbacks write here until they are shut down (even when an
  // assertion ends the test early).
  BurstTally tally;
  std::vector<std::shared_ptr<prometheus::Registry>> registries;
  std::vector<std::unique_ptr<sink::Sink>> sinks;
  for (const auto transport : {sink::Transport::kUnary, sink::Transport::kStream}) {
    auto options = TestSinkOptions(dispatcher.address);
    options.transport = transport;
    options.metrics_registry = registries.emplace_back(std::make_shared<prometheus::Registry>());
    sinks.push_back(sink::MakeSink(options));
    ASSERT_TRUE(sinks.back());
    // Warm: the channel is up and the worker answers (its reject) before the bursts.
    const auto e = EvaluateAndWait(*sinks.back(), RcptEvent("blocked@example.com", 5000ms), 5000ms);
    ASSERT_TRUE(e.has_value());
    ASSERT_EQ(e->source, sink::VerdictSource::kDispatcher) << sink::FallbackReasonName(e->reason);
  }
  const long rss_before = ResidentKib(dispatcher.process->pid());
  ASSERT_GT(rss_before, 0);

  constexpr int kRounds = 5;
  constexpr int kBurst = 1000;  // per round, over both sinks: 250x the in-flight limit
  long rss_max = rss_before;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kBurst; ++i) {
      {
        std::lock_guard lock(tally.mu);
        ++tally.issued;
      }
      sinks[i % 2]->Evaluate(
          RcptEvent("blocked@example.com", 5000ms), 5000ms, [&tally](sink::Evaluation e) {
            std::lock_guard lock(tally.mu);
            ++tally.answered;
            if (e.reason == sink::FallbackReason::kShed) {
              ++tally.shed;
            } else if (e.source == sink::VerdictSource::kDispatcher &&
                       e.verdict.action() == v1::ACTION_REJECT) {
              ++tally.rejected;
            } else {
              tally.other.push_back(std::string(sink::VerdictSourceName(e.source)) + "/" +
                                    std::string(sink::FallbackReasonName(e.reason)));
            }
            tally.cv.notify_all();
          });
    }
    // Every event is answered (the sink's contract: within its budget; this bound only keeps a
    // broken build from hanging).
    std::unique_lock lock(tally.mu);
    ASSERT_TRUE(tally.cv.wait_for(lock, 60s, [&] { return tally.answered == tally.issued; }))
        << tally.answered << " of " << tally.issued << " answered";
    lock.unlock();
    rss_max = std::max(rss_max, ResidentKib(dispatcher.process->pid()));
  }

  std::unique_lock lock(tally.mu);  // every callback has run: nothing else takes it now
  EXPECT_EQ(tally.answered, kRounds * kBurst);
  EXPECT_GT(tally.shed, kRounds * kBurst / 2) << "most of a burst 250x the limit is shed";
  EXPECT_GT(tally.rejected, 0) << "admitted events are answered by the worker";
  EXPECT_TRUE(tally.other.empty())
      << "neither timed out nor failed: " << ::testing::PrintToString(tally.other);
  // The sinks counted each shed once, as did the dispatcher (reason: its in-flight limit).
  EXPECT_EQ(SinkShedFallbacks(*registries[0]) + SinkShedFallbacks(*registries[1]), tally.shed);
  // Nothing stays held once every event is answered (a pool slot is freed just after its
  // event's answer goes out, hence the bounded wait).
  std::string metrics;
  for (int i = 0; i < 500; ++i) {
    metrics = HttpGet(metrics_port, "/metrics");
    if (MetricSum(metrics, "smtpbridge_dispatcher_in_flight_events") == 0 &&
        MetricSum(metrics, "smtpbridge_dispatcher_pool_in_flight") == 0) {
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(MetricSum(metrics, "smtpbridge_dispatcher_in_flight_events"), 0);
  EXPECT_EQ(MetricSum(metrics, "smtpbridge_dispatcher_pool_in_flight"), 0);
  EXPECT_EQ(MetricSum(metrics, "smtpbridge_dispatcher_shed_total"), tally.shed);
  EXPECT_EQ(MetricSum(metrics, "smtpbridge_dispatcher_shed_total{reason=\"in_flight\"}"),
            tally.shed);
  // Bounded, generously: 5,000 events through a dispatcher that holds at most 4 at a time must
  // not cost it 64 MiB (plus, in the ASan build, its quarantine of freed memory: 256 MiB).
  EXPECT_LT(rss_max - rss_before, kRssGrowthBoundKib)
      << "VmRSS " << rss_before << " -> " << rss_max << " KiB";
  std::printf(
      "burst: %d events, %d shed, %d answered by the worker; dispatcher VmRSS %ld -> %ld KiB\n",
      tally.answered, tally.shed, tally.rejected, rss_before, rss_max);
  lock.unlock();
  for (auto& s : sinks) s->Shutdown();
}

}  // namespace
}  // namespace smtpbridge::integration
