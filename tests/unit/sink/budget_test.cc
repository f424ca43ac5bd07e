// The budget race: the dispatcher's answer against the sink's own timer, under simulated time.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/thread_timers.h"
#include "sink_test_util.h"

namespace smtpbridge::sink::testing {
namespace {

using std::chrono::microseconds;

TEST(SinkBudget, AnswerBeforeTimerComesFromDispatcher) {
  Harness h;
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(5000), r.Callback());
  ASSERT_EQ(h.fake->evaluation_count(), 1u);
  EXPECT_EQ(r.count(), 0u);
  h.timers->Advance(microseconds(1200));
  ASSERT_TRUE(h.fake->Answer(0, MakeVerdict(v1::ACTION_REJECT, 550, "no"), "block-list"));
  ASSERT_EQ(r.count(), 1u);
  const Evaluation e = r.at(0);
  EXPECT_EQ(e.source, VerdictSource::kDispatcher);
  EXPECT_EQ(e.reason, FallbackReason::kNone);
  EXPECT_EQ(e.verdict.action(), v1::ACTION_REJECT);
  EXPECT_EQ(e.decided_by, "block-list");
  EXPECT_EQ(e.latency, microseconds(1200));
  // The timer was cancelled: advancing past the budget answers nothing more.
  EXPECT_EQ(h.timers->scheduled(), 0u);
  h.timers->Advance(microseconds(10000));
  EXPECT_EQ(r.count(), 1u);
  EXPECT_EQ(h.sink->metrics().evaluations(VerdictSource::kDispatcher), 1);
}

TEST(SinkBudget, RequestCarriesTheBudgetAndAMillisecondDeadlineWithSlack) {
  Harness h;
  Recorder r;
  const auto before = std::chrono::system_clock::now();
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(1500), r.Callback());
  const auto after = std::chrono::system_clock::now();
  const v1::EvaluateRequest req = h.fake->request(0);
  EXPECT_EQ(req.event().budget().seconds(), 0);
  EXPECT_EQ(req.event().budget().nanos(), 1500000);
  // 1.5 ms rounds up to 2 ms, plus the default 2 ms slack.
  EXPECT_GE(h.fake->deadline(0), before + std::chrono::milliseconds(4));
  EXPECT_LE(h.fake->deadline(0), after + std::chrono::milliseconds(4));
  h.fake->Answer(0, MakeVerdict(v1::ACTION_CONTINUE));
}

TEST(SinkBudget, TimerBeforeAnswerFallsBackAndCancelsTheCall) {
  Harness h;
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(800), r.Callback());
  h.timers->Advance(microseconds(799));
  EXPECT_EQ(r.count(), 0u);
  h.timers->Advance(microseconds(1));
  ASSERT_EQ(r.count(), 1u);
  const Evaluation e = r.at(0);
  EXPECT_EQ(e.source, VerdictSource::kDefault);
  EXPECT_EQ(e.reason, FallbackReason::kBudgetExceeded);
  EXPECT_EQ(e.verdict.action(), v1::ACTION_UNSPECIFIED);  // the default default: continue
  EXPECT_EQ(e.latency, microseconds(800));
  EXPECT_EQ(h.fake->evaluation(0)->cancels(), 1);
  EXPECT_EQ(h.sink->metrics().fallbacks(FallbackReason::kBudgetExceeded), 1);
  EXPECT_EQ(h.sink->in_flight(), 0u);  // the cancelled call finished
}

TEST(SinkBudget, LateAnswerIsDroppedCountedAndCached) {
  Harness h;
  h.fake->complete_on_cancel = false;  // the answer was already on its way when we cancelled
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(500), r.Callback());
  h.timers->Advance(microseconds(600));
  ASSERT_EQ(r.count(), 1u);
  EXPECT_EQ(h.sink->in_flight(), 1u);
  EXPECT_TRUE(h.fake->Answer(0, MakeVerdict(v1::ACTION_REJECT, 550, "late")));
  EXPECT_EQ(r.count(), 1u);  // done ran exactly once
  EXPECT_EQ(h.sink->metrics().late_answers(), 1);
  EXPECT_EQ(h.sink->in_flight(), 0u);
  // The late verdict feeds the stale cache for the next outage.
  EXPECT_EQ(h.sink->stale_cache().size(), 1u);
}

TEST(SinkBudget, ZeroBudgetAnswersFromFallbackAtOnce) {
  Harness h;
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(0), r.Callback());
  h.timers->Advance(microseconds(0));
  ASSERT_EQ(r.count(), 1u);
  EXPECT_EQ(r.at(0).reason, FallbackReason::kBudgetExceeded);
}

TEST(SinkBudget, ErrorStatusesMapToReasons) {
  Harness h;
  Recorder r;
  for (int i = 0; i < 3; ++i)
    h.sink->Evaluate(Rcpt("a@example.com"), microseconds(5000), r.Callback());
  h.fake->Fail(0, grpc::StatusCode::UNAVAILABLE);
  h.fake->Fail(1, grpc::StatusCode::INTERNAL);
  h.fake->Fail(2, grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_EQ(r.count(), 3u);
  EXPECT_EQ(r.at(0).reason, FallbackReason::kUnavailable);
  EXPECT_EQ(r.at(1).reason, FallbackReason::kError);
  EXPECT_EQ(r.at(2).reason, FallbackReason::kBudgetExceeded);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r.at(i).source, VerdictSource::kDefault);
  EXPECT_EQ(h.timers->scheduled(), 0u);
}

TEST(SinkBudget, HostNameFilledWhenTheHostLeftItEmpty) {
  SinkOptions o = QuietOptions();
  o.host_name = "mx1";
  Harness h(o);
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(5000), r.Callback());
  EXPECT_EQ(h.fake->request(0).event().session().host_name(), "mx1");
  h.fake->Answer(0, MakeVerdict(v1::ACTION_CONTINUE));
}

// Real threads: the timer thread and an answering thread race on every call; done must run
// exactly once each time, whoever wins.
TEST(SinkBudget, DoneRunsExactlyOnceWhenAnswerAndTimerRace) {
  SinkOptions o = QuietOptions();
  o.breaker.enabled = false;
  auto fake_client = std::make_unique<FakeDispatcherClient>();
  FakeDispatcherClient* fake = fake_client.get();
  fake->complete_on_cancel = false;
  SinkCore sink(o, std::move(fake_client), std::make_shared<ThreadTimers>());
  constexpr int kCalls = 300;
  std::vector<std::atomic<int>> calls(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    sink.Evaluate(Rcpt("a@example.com"), microseconds(50 + (i % 7) * 20),
                  [&calls, i](Evaluation) { calls[i].fetch_add(1); });
    std::thread answerer([fake, i] { fake->Answer(i, MakeVerdict(v1::ACTION_CONTINUE)); });
    answerer.join();
  }
  sink.Shutdown();
  int from_dispatcher = 0;
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(calls[i].load(), 1) << "call " << i;
  from_dispatcher = static_cast<int>(sink.metrics().evaluations(VerdictSource::kDispatcher));
  EXPECT_EQ(
      from_dispatcher + static_cast<int>(sink.metrics().fallbacks(FallbackReason::kBudgetExceeded)),
      kCalls);
  EXPECT_EQ(sink.metrics().late_answers(),
            sink.metrics().fallbacks(FallbackReason::kBudgetExceeded));
}

}  // namespace
}  // namespace smtpbridge::sink::testing
