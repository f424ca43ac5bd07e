// The real thing end to end: MakeSink() against an in-process Dispatcher gRPC server on port 0,
// and against a port where nothing listens.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include "core/grpc_dispatcher_client.h"
#include "sink_test_util.h"
#include "smtpbridge/sink/sink_factory.h"
#include "support/process.h"
#include "test_dispatcher.h"

namespace smtpbridge::sink::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// Waits for the sink's answer (bounded, so a broken sink fails instead of hanging).
Evaluation EvaluateAndWait(Sink& sink, v1::Event event, microseconds budget) {
  auto promise = std::make_shared<std::promise<Evaluation>>();
  auto future = promise->get_future();
  sink.Evaluate(std::move(event), budget,
                [promise](Evaluation e) { promise->set_value(std::move(e)); });
  if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "the sink never answered";
    return {};
  }
  return future.get();
}

SinkOptions RealOptions(const std::string& target) {
  SinkOptions o;
  o.dispatcher_target = target;
  o.metrics_registry = std::make_shared<prometheus::Registry>();
  o.breaker.failure_threshold = 3;
  o.breaker.open_for = std::chrono::seconds(60);  // stays open for the rest of the test
  return o;
}

// A generous budget for calls that must reach the dispatcher (the first one also connects).
constexpr microseconds kGenerous = std::chrono::seconds(5);

TEST(GrpcSink, AnswersFromTheDispatcher) {
  TestDispatcher dispatcher;
  auto sink = MakeSink(RealOptions(dispatcher.target()));
  const Evaluation e = EvaluateAndWait(*sink, Rcpt("reject@example.com"), kGenerous);
  EXPECT_EQ(e.source, VerdictSource::kDispatcher);
  EXPECT_EQ(e.reason, FallbackReason::kNone);
  EXPECT_EQ(e.verdict.action(), v1::ACTION_REJECT);
  EXPECT_EQ(e.verdict.reply().code(), 550u);
  EXPECT_EQ(e.decided_by, "test-reject");
  const Evaluation ok = EvaluateAndWait(*sink, Rcpt("someone@example.com"), kGenerous);
  EXPECT_EQ(ok.source, VerdictSource::kDispatcher);
  EXPECT_EQ(ok.verdict.action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(dispatcher.evaluations(), 2);
  sink->Shutdown();
}

TEST(GrpcSink, ChannelConnectsBeforeTheFirstCall) {
  TestDispatcher dispatcher;
  auto channel = grpc::CreateChannel(dispatcher.target(), grpc::InsecureChannelCredentials());
  GrpcDispatcherClient client(channel);
  // Nobody asked the channel to connect but the client: it must get READY on its own.
  const auto give_up = std::chrono::system_clock::now() + std::chrono::seconds(10);
  grpc_connectivity_state state = channel->GetState(false);
  while (state != GRPC_CHANNEL_READY && channel->WaitForStateChange(state, give_up)) {
    state = channel->GetState(false);
  }
  EXPECT_EQ(state, GRPC_CHANNEL_READY);
  EXPECT_EQ(dispatcher.evaluations(), 0);
}

TEST(GrpcSink, SlowDispatcherLosesToTheBudgetAndTheCallIsCancelled) {
  TestDispatcher dispatcher;
  auto sink = MakeSink(RealOptions(dispatcher.target()));
  // Warm the channel up, so the budget below is spent on the slow answer, not on connecting.
  ASSERT_EQ(EvaluateAndWait(*sink, Rcpt("warm@example.com"), kGenerous).source,
            VerdictSource::kDispatcher);
  const Evaluation e = EvaluateAndWait(*sink, Rcpt("late@example.com"), milliseconds(30));
  EXPECT_EQ(e.source, VerdictSource::kDefault);
  EXPECT_EQ(e.reason, FallbackReason::kBudgetExceeded);
  // The server sees the cancellation (bounded wait: cancellation travels asynchronously).
  for (int i = 0; i < 400 && dispatcher.cancelled() == 0; ++i)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(dispatcher.cancelled(), 1);
  sink->Shutdown();
}

TEST(GrpcSink, ErrorStatusFallsBackWithUnavailable) {
  TestDispatcher dispatcher;
  auto sink = MakeSink(RealOptions(dispatcher.target()));
  const Evaluation e = EvaluateAndWait(*sink, Rcpt("unavailable@example.com"), kGenerous);
  EXPECT_EQ(e.source, VerdictSource::kDefault);
  EXPECT_EQ(e.reason, FallbackReason::kUnavailable);
  sink->Shutdown();
}

TEST(GrpcSink, StaleCacheAnswersAfterTheDispatcherDies) {
  auto dispatcher = std::make_unique<TestDispatcher>();
  auto sink = MakeSink(RealOptions(dispatcher->target()));
  ASSERT_EQ(EvaluateAndWait(*sink, Rcpt("reject@example.com"), kGenerous).source,
            VerdictSource::kDispatcher);
  dispatcher.reset();
  const Evaluation e = EvaluateAndWait(*sink, Rcpt("reject@example.com"), milliseconds(500));
  EXPECT_EQ(e.source, VerdictSource::kStaleCache);
  EXPECT_EQ(e.verdict.action(), v1::ACTION_REJECT);
  EXPECT_TRUE(e.reason == FallbackReason::kUnavailable ||
              e.reason == FallbackReason::kBudgetExceeded)
      << FallbackReasonName(e.reason);
  sink->Shutdown();
}

TEST(GrpcSink, NoServerListeningFallsBackAndOpensTheBreaker) {
  const int port = smtpbridge::testing::FreeTcpPort();
  SinkOptions o = RealOptions("ipv4:127.0.0.1:" + std::to_string(port));
  o.default_verdicts[v1::EVENT_TYPE_CONNECT] = MakeVerdict(v1::ACTION_TEMPFAIL, 451);
  o.breaker.failure_rate_min_calls = 3;  // refused calls count in the rate too
  auto sink = MakeSink(o);
  for (int i = 0; i < 3; ++i) {
    const Evaluation e =
        EvaluateAndWait(*sink, MakeEvent(v1::EVENT_TYPE_CONNECT), milliseconds(200));
    EXPECT_EQ(e.source, VerdictSource::kDefault);
    EXPECT_EQ(e.verdict.action(), v1::ACTION_TEMPFAIL);
    EXPECT_TRUE(e.reason == FallbackReason::kUnavailable ||
                e.reason == FallbackReason::kBudgetExceeded)
        << FallbackReasonName(e.reason);
  }
  // Three failures opened the breaker: now the answer comes inline, without a call.
  bool inline_answer = false;
  Evaluation open;
  sink->Evaluate(MakeEvent(v1::EVENT_TYPE_CONNECT), milliseconds(200), [&](Evaluation e) {
    inline_answer = true;
    open = std::move(e);
  });
  ASSERT_TRUE(inline_answer);
  EXPECT_EQ(open.reason, FallbackReason::kCircuitOpen);
  EXPECT_EQ(open.verdict.action(), v1::ACTION_TEMPFAIL);
  sink->Shutdown();
}

TEST(GrpcSink, InterestsComeFromTheDispatcher) {
  TestDispatcher dispatcher;
  v1::GetInterestsResponse interests;
  auto* i = interests.add_interests();
  i->set_instance(1);
  i->set_event(v1::EVENT_TYPE_INBOUND_COMMAND);
  i->add_keywords("RCPT");
  i->set_body_limit(1000);
  interests.set_generation(1);
  dispatcher.SetInterests(interests);
  auto sink = MakeSink(RealOptions(dispatcher.target()));
  for (int n = 0; n < 400 && sink->Wants(1, v1::EVENT_TYPE_CONNECT, ""); ++n) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_FALSE(sink->Wants(1, v1::EVENT_TYPE_CONNECT, ""));
  EXPECT_TRUE(sink->Wants(1, v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT"));
  EXPECT_EQ(sink->BodyLimit(1), 1000u);
  sink->Shutdown();
}

// Many evaluations in flight at once, of every kind: each answers exactly once, with the
// source its kind calls for, and Shutdown() afterwards leaves nothing behind.
TEST(GrpcSink, ConcurrentEvaluationsEachAnswerExactlyOnce) {
  TestDispatcher dispatcher;
  SinkOptions o = RealOptions(dispatcher.target());
  o.breaker.enabled = false;  // "unavailable" answers must not turn the others into fallbacks
  auto sink = MakeSink(o);
  ASSERT_EQ(EvaluateAndWait(*sink, Rcpt("warm@example.com"), kGenerous).source,
            VerdictSource::kDispatcher);
  constexpr int kCalls = 120;
  const char* kinds[] = {"reject", "late", "unavailable", "plain"};
  std::mutex mu;
  std::condition_variable all_done;
  std::vector<int> calls(kCalls, 0);
  std::vector<Evaluation> got(kCalls);
  int answered = 0;
  for (int i = 0; i < kCalls; ++i) {
    const std::string kind = kinds[i % 4];
    const microseconds budget = kind == "late" ? microseconds(milliseconds(20)) : kGenerous;
    sink->Evaluate(Rcpt(kind + "-" + std::to_string(i) + "@example.com"), budget,
                   [&, i](Evaluation e) {
                     std::lock_guard lock(mu);
                     if (++calls[i] == 1) {
                       got[i] = std::move(e);
                       if (++answered == kCalls) all_done.notify_all();
                     }
                   });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(
        all_done.wait_for(lock, std::chrono::seconds(30), [&] { return answered == kCalls; }));
  }
  sink->Shutdown();
  std::lock_guard lock(mu);
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(calls[i], 1) << "call " << i;
    switch (i % 4) {
      case 0:
        EXPECT_EQ(got[i].source, VerdictSource::kDispatcher);
        EXPECT_EQ(got[i].verdict.action(), v1::ACTION_REJECT);
        break;
      case 1:
        EXPECT_EQ(got[i].reason, FallbackReason::kBudgetExceeded);
        break;
      case 2:
        EXPECT_EQ(got[i].reason, FallbackReason::kUnavailable);
        break;
      case 3:
        EXPECT_EQ(got[i].source, VerdictSource::kDispatcher);
        break;
    }
  }
}

TEST(GrpcSink, ShutdownAnswersAPendingCallAtOnce) {
  TestDispatcher dispatcher;
  auto sink = MakeSink(RealOptions(dispatcher.target()));
  auto promise = std::make_shared<std::promise<Evaluation>>();
  auto future = promise->get_future();
  sink->Evaluate(Rcpt("late@example.com"), std::chrono::seconds(30),
                 [promise](Evaluation e) { promise->set_value(std::move(e)); });
  sink->Shutdown();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_EQ(future.get().reason, FallbackReason::kShutdown);
  sink.reset();
}

}  // namespace
}  // namespace smtpbridge::sink::testing
