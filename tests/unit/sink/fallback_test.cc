// Where fallback verdicts come from: local rules, then the stale cache, then the default.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "sink_test_util.h"

namespace smtpbridge::sink::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// Gets one verdict from the dispatcher for `event`, so the stale cache holds it.
void Prime(Harness& h, const v1::Event& event, const v1::Verdict& verdict) {
  Recorder r;
  const std::size_t i = h.fake->evaluation_count();
  h.sink->Evaluate(event, microseconds(1000), r.Callback());
  ASSERT_TRUE(h.fake->Answer(i, verdict));
  ASSERT_EQ(r.at(0).source, VerdictSource::kDispatcher);
}

Evaluation FallbackOf(Harness& h, const v1::Event& event) {
  Recorder r;
  const std::size_t i = h.fake->evaluation_count();
  h.sink->Evaluate(event, microseconds(1000), r.Callback());
  h.fake->Fail(i, grpc::StatusCode::UNAVAILABLE);
  return r.at(0);
}

TEST(SinkFallback, DefaultPerEventType) {
  SinkOptions o = QuietOptions();
  o.breaker.enabled = false;
  o.default_verdict = MakeVerdict(v1::ACTION_CONTINUE);
  o.default_verdicts[v1::EVENT_TYPE_CONNECT] = MakeVerdict(v1::ACTION_TEMPFAIL, 451, "try later");
  Harness h(o);
  const Evaluation connect = FallbackOf(h, MakeEvent(v1::EVENT_TYPE_CONNECT));
  EXPECT_EQ(connect.source, VerdictSource::kDefault);
  EXPECT_EQ(connect.reason, FallbackReason::kUnavailable);
  EXPECT_EQ(connect.verdict.action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(connect.verdict.reply().code(), 451u);
  EXPECT_NE(connect.verdict.reason().find("unavailable"), std::string::npos);
  const Evaluation rcpt = FallbackOf(h, Rcpt("a@example.com"));
  EXPECT_EQ(rcpt.verdict.action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(h.sink->metrics().evaluations(VerdictSource::kDefault), 2);
}

TEST(SinkFallback, StaleCacheAnswersForAnEquivalentEvent) {
  SinkOptions o = QuietOptions();
  o.breaker.enabled = false;
  Harness h(o);
  Prime(h, Rcpt("bad@example.com"), MakeVerdict(v1::ACTION_REJECT, 550, "no such user"));
  const Evaluation same = FallbackOf(h, Rcpt("bad@example.com"));
  EXPECT_EQ(same.source, VerdictSource::kStaleCache);
  EXPECT_EQ(same.verdict.action(), v1::ACTION_REJECT);
  EXPECT_EQ(same.verdict.reply().code(), 550u);
  // Another recipient, or the same from another client, is not equivalent.
  EXPECT_EQ(FallbackOf(h, Rcpt("good@example.com")).source, VerdictSource::kDefault);
  EXPECT_EQ(FallbackOf(h, Rcpt("bad@example.com", "198.51.100.1")).source, VerdictSource::kDefault);
}

TEST(SinkFallback, StaleCacheEntriesExpire) {
  SinkOptions o = QuietOptions();
  o.breaker.enabled = false;
  o.stale_cache.ttl = milliseconds(200);
  Harness h(o);
  Prime(h, Rcpt("bad@example.com"), MakeVerdict(v1::ACTION_REJECT, 550));
  h.timers->Advance(milliseconds(199));
  EXPECT_EQ(FallbackOf(h, Rcpt("bad@example.com")).source, VerdictSource::kStaleCache);
  h.timers->Advance(milliseconds(1));
  EXPECT_EQ(FallbackOf(h, Rcpt("bad@example.com")).source, VerdictSource::kDefault);
  EXPECT_EQ(h.sink->stale_cache().size(), 0u);
}

TEST(SinkFallback, StaleCacheIsBoundedLeastRecentlyUsedFirst) {
  StaleCacheOptions o;
  o.max_entries = 2;
  StaleCache cache(o);
  const SteadyTime t{std::chrono::hours(1)};
  cache.Put(Rcpt("a@x"), MakeVerdict(v1::ACTION_REJECT), t);
  cache.Put(Rcpt("b@x"), MakeVerdict(v1::ACTION_REJECT), t);
  ASSERT_TRUE(cache.Get(Rcpt("a@x"), t));  // a is now the most recently used
  cache.Put(Rcpt("c@x"), MakeVerdict(v1::ACTION_REJECT), t);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.Get(Rcpt("a@x"), t));
  EXPECT_FALSE(cache.Get(Rcpt("b@x"), t));
  EXPECT_TRUE(cache.Get(Rcpt("c@x"), t));
}

TEST(SinkFallback, EndOfDataVerdictsAreNotCached) {
  StaleCache cache(StaleCacheOptions{});
  const SteadyTime t{std::chrono::hours(1)};
  v1::Event eod = MakeEvent(v1::EVENT_TYPE_INBOUND_COMMAND, "_EOD");
  cache.Put(eod, MakeVerdict(v1::ACTION_REJECT), t);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.Get(eod, t));
}

TEST(SinkFallback, StaleCacheIsNotConsultedWhileTheDispatcherAnswers) {
  SinkOptions o = QuietOptions();
  Harness h(o);
  Prime(h, Rcpt("bad@example.com"), MakeVerdict(v1::ACTION_REJECT, 550));
  Recorder r;
  h.sink->Evaluate(Rcpt("bad@example.com"), microseconds(1000), r.Callback());
  h.fake->Answer(1, MakeVerdict(v1::ACTION_CONTINUE));
  EXPECT_EQ(r.at(0).source, VerdictSource::kDispatcher);
  EXPECT_EQ(r.at(0).verdict.action(), v1::ACTION_CONTINUE);
}

TEST(SinkFallback, LocalRulesComeBeforeTheStaleCache) {
  SinkOptions o = QuietOptions();
  o.breaker.enabled = false;
  LocalRule allow;
  allow.name = "trusted";
  allow.clients.push_back(*Cidr::Parse("192.0.2.0/24"));
  allow.verdict = MakeVerdict(v1::ACTION_CONTINUE);
  Harness h(o, LocalRules({allow}));
  Prime(h, Rcpt("bad@example.com"), MakeVerdict(v1::ACTION_REJECT, 550));
  const Evaluation e = FallbackOf(h, Rcpt("bad@example.com"));
  EXPECT_EQ(e.source, VerdictSource::kLocalRules);
  EXPECT_EQ(e.verdict.action(), v1::ACTION_CONTINUE);
  // Outside the rule's network, the cache answers.
  Prime(h, Rcpt("bad@example.com", "203.0.113.9"), MakeVerdict(v1::ACTION_REJECT, 550));
  EXPECT_EQ(FallbackOf(h, Rcpt("bad@example.com", "203.0.113.9")).source,
            VerdictSource::kStaleCache);
}

// Captures what the sink logs through spdlog's default logger, for one test.
class LogCapture {
 public:
  LogCapture()
      : ring_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100)),
        previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", ring_));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::vector<std::string> lines() const { return ring_->last_formatted(); }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring_;
  std::shared_ptr<spdlog::logger> previous_;
};

int CountContaining(const std::vector<std::string>& lines, const std::string& text) {
  int n = 0;
  for (const auto& line : lines) n += line.find(text) != std::string::npos ? 1 : 0;
  return n;
}

TEST(SinkFallback, WarningsAreRateLimitedPerReasonButEveryFallbackIsCounted) {
  LogCapture log;
  SinkOptions o = QuietOptions();
  o.breaker.enabled = false;
  o.warn_interval = milliseconds(1000);
  Harness h(o);
  for (int i = 0; i < 5; ++i) FallbackOf(h, Rcpt("a@example.com"));
  EXPECT_EQ(h.sink->metrics().fallbacks(FallbackReason::kUnavailable), 5);
  EXPECT_EQ(CountContaining(log.lines(), "reason=unavailable"), 1);

  // Another reason has its own allowance.
  Recorder r;
  h.sink->Evaluate(Rcpt("a@example.com"), microseconds(10), r.Callback());
  h.timers->Advance(microseconds(10));
  EXPECT_EQ(CountContaining(log.lines(), "reason=budget_exceeded"), 1);

  // After the interval, the next warning says how many were left out.
  h.timers->Advance(milliseconds(1000));
  FallbackOf(h, Rcpt("a@example.com"));
  const auto lines = log.lines();
  EXPECT_EQ(CountContaining(lines, "reason=unavailable"), 2);
  EXPECT_EQ(CountContaining(lines, "(4 more fallbacks with this reason"), 1);
}

}  // namespace
}  // namespace smtpbridge::sink::testing
