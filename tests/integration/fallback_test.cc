// The sink's fallback with a real dispatcher process that is absent, killed and restarted.
#include <gtest/gtest.h>

#include <thread>

#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;
using sink::FallbackReason;
using sink::VerdictSource;

constexpr auto kBudget = 300ms;
// Bounded retry loops: enough attempts for a loaded 2-core machine, never endless.
constexpr int kMaxAttempts = 200;
constexpr auto kReconnectWithin = std::chrono::seconds(20);

v1::Verdict TempfailVerdict() {
  v1::Verdict v;
  v.set_action(v1::ACTION_TEMPFAIL);
  return v;
}

TEST(SinkFallback, DispatcherDownAnswersFromTheDefaultVerdict) {
  // Nobody listens on this port (it was free a moment ago).
  auto options = TestSinkOptions("127.0.0.1:" + std::to_string(testing::FreeTcpPort()));
  options.default_verdict = TempfailVerdict();
  auto sink = sink::MakeSink(options);
  const auto e = EvaluateAndWait(*sink, RcptEvent("a@example.com", kBudget), kBudget);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->source, VerdictSource::kDefault);
  EXPECT_TRUE(e->reason == FallbackReason::kUnavailable ||
              e->reason == FallbackReason::kBudgetExceeded)
      << sink::FallbackReasonName(e->reason);
  EXPECT_EQ(e->verdict.action(), v1::ACTION_TEMPFAIL);
}

TEST(SinkFallback, BreakerOpensWhenTheDispatcherDiesAndClosesWhenItReturns) {
  testing::TempDir dir;
  const auto bindings =
      dir.Write("bindings.yaml", BindingsYaml({{.name = "fast", .sink = Workers::Fast().address}}));
  auto dispatcher = StartDispatcher(dir, bindings, "dispatcher-1");
  const std::string address = dispatcher.address;

  auto options = TestSinkOptions(address);
  options.breaker.failure_threshold = 3;
  options.breaker.open_for = 200ms;
  options.stale_cache.enabled = false;
  auto sink = sink::MakeSink(options);

  // Healthy: the dispatcher (through the fast worker) decides.
  auto e = EvaluateAndWait(*sink, RcptEvent("blocked@example.com", kBudget), kBudget);
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(e->source, VerdictSource::kDispatcher);
  EXPECT_EQ(e->verdict.action(), v1::ACTION_REJECT);

  // Dead: failures open the breaker, after which the dispatcher is not even asked.
  dispatcher.process->Stop();
  bool opened = false;
  for (int i = 0; i < kMaxAttempts && !opened; ++i) {
    e = EvaluateAndWait(*sink, RcptEvent("a@example.com", kBudget), kBudget);
    ASSERT_TRUE(e.has_value());
    ASSERT_NE(e->source, VerdictSource::kDispatcher);
    opened = e->reason == FallbackReason::kCircuitOpen;
  }
  EXPECT_TRUE(opened) << "the breaker never opened";

  // Back on the same port: a half-open probe succeeds and the dispatcher decides again.
  auto restarted = StartDispatcher(dir, bindings, "dispatcher-2", address);
  ASSERT_EQ(restarted.address, address);
  // The sink's channel reconnects with gRPC's backoff (1 s, then growing), so allow a while.
  const auto give_up = std::chrono::steady_clock::now() + kReconnectWithin;
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() < give_up) {
    e = EvaluateAndWait(*sink, RcptEvent("blocked@example.com", kBudget), kBudget);
    ASSERT_TRUE(e.has_value());
    closed = e->source == VerdictSource::kDispatcher;
    if (!closed) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(closed) << "the breaker never closed";
  EXPECT_EQ(e->verdict.action(), v1::ACTION_REJECT);
  // And it stays closed.
  for (int i = 0; i < 5; ++i) {
    e = EvaluateAndWait(*sink, RcptEvent("blocked@example.com", kBudget), kBudget);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->source, VerdictSource::kDispatcher);
    EXPECT_EQ(e->reason, FallbackReason::kNone);
  }
}

TEST(SinkFallback, BreakerClosesAsSoonAsARestartedDispatcherIsReady) {
  testing::TempDir dir;
  const auto bindings =
      dir.Write("bindings.yaml", BindingsYaml({{.name = "fast", .sink = Workers::Fast().address}}));
  auto dispatcher = StartDispatcher(dir, bindings, "dispatcher-1");
  const std::string address = dispatcher.address;

  auto options = TestSinkOptions(address);
  options.breaker.failure_threshold = 3;
  // Far longer than the test: only the channel's READY can end the cool-down.
  options.breaker.open_for = std::chrono::minutes(10);
  options.stale_cache.enabled = false;
  auto sink = sink::MakeSink(options);
  auto e = EvaluateAndWait(*sink, RcptEvent("blocked@example.com", kBudget), kBudget);
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(e->source, VerdictSource::kDispatcher);

  dispatcher.process->Stop();
  bool opened = false;
  for (int i = 0; i < kMaxAttempts && !opened; ++i) {
    e = EvaluateAndWait(*sink, RcptEvent("a@example.com", kBudget), kBudget);
    ASSERT_TRUE(e.has_value());
    opened = e->reason == FallbackReason::kCircuitOpen;
  }
  ASSERT_TRUE(opened) << "the breaker never opened";

  auto restarted = StartDispatcher(dir, bindings, "dispatcher-2", address);
  ASSERT_EQ(restarted.address, address);
  const auto give_up = std::chrono::steady_clock::now() + kReconnectWithin;
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() < give_up) {
    e = EvaluateAndWait(*sink, RcptEvent("blocked@example.com", kBudget), kBudget);
    ASSERT_TRUE(e.has_value());
    closed = e->source == VerdictSource::kDispatcher;
    if (!closed) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(closed) << "the breaker never closed";
  EXPECT_EQ(e->verdict.action(), v1::ACTION_REJECT);
}

}  // namespace
}  // namespace smtpbridge::integration
