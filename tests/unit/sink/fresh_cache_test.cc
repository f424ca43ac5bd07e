// The fresh verdict cache: verdicts the dispatcher marked reusable (cache_ttl) answer equivalent
// events without a round trip, until the TTL ends; never `_EOD`; bounded; cleared when the
// dispatcher's bindings change. Simulated time, fake dispatcher client.
#include <gtest/gtest.h>

#include "sink_test_util.h"

namespace smtpbridge::sink::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr microseconds kBudget{20000};

v1::Verdict Reusable(v1::Action action, milliseconds ttl,
                     v1::CacheScope scope = v1::CACHE_SCOPE_UNSPECIFIED) {
  v1::Verdict v = MakeVerdict(action, action == v1::ACTION_REJECT ? 550 : 0, "no");
  v.mutable_cache_ttl()->set_seconds(ttl.count() / 1000);
  v.mutable_cache_ttl()->set_nanos(static_cast<int32_t>((ttl.count() % 1000) * 1000000));
  v.set_cache_scope(scope);
  return v;
}

// Sends `event`; when the dispatcher is asked, answers it with `verdict`. Returns the count of
// dispatcher calls afterwards.
std::size_t EvaluateAnswering(Harness& h, Recorder& r, v1::Event event,
                              const v1::Verdict& verdict) {
  const std::size_t before = h.fake->evaluation_count();
  h.sink->Evaluate(std::move(event), kBudget, r.Callback());
  if (h.fake->evaluation_count() > before) h.fake->Answer(before, verdict, "ttl-binding");
  return h.fake->evaluation_count();
}

TEST(FreshCache, EquivalentEventIsAnsweredFromMemoryUntilTheTtlEnds) {
  Harness h;
  Recorder r;
  const v1::Verdict v = Reusable(v1::ACTION_REJECT, milliseconds(1000));
  ASSERT_EQ(EvaluateAnswering(h, r, Rcpt("spam@example.com"), v), 1u);
  EXPECT_EQ(r.at(0).source, VerdictSource::kDispatcher);

  h.timers->Advance(milliseconds(999));
  h.sink->Evaluate(Rcpt("spam@example.com", "198.51.100.7"), kBudget, r.Callback());
  ASSERT_EQ(r.count(), 2u);  // inline, no round trip
  EXPECT_EQ(h.fake->evaluation_count(), 1u);
  EXPECT_EQ(r.at(1).source, VerdictSource::kCache);
  EXPECT_EQ(r.at(1).reason, FallbackReason::kNone);
  EXPECT_EQ(r.at(1).verdict.action(), v1::ACTION_REJECT);
  EXPECT_EQ(r.at(1).decided_by, "ttl-binding");
  EXPECT_EQ(h.sink->metrics().evaluations(VerdictSource::kCache), 1);
  for (auto reason : {FallbackReason::kBudgetExceeded, FallbackReason::kUnavailable,
                      FallbackReason::kError, FallbackReason::kCircuitOpen}) {
    EXPECT_EQ(h.sink->metrics().fallbacks(reason), 0);
  }

  h.timers->Advance(milliseconds(1));  // the TTL is over: ask again
  EXPECT_EQ(EvaluateAnswering(h, r, Rcpt("spam@example.com"), MakeVerdict(v1::ACTION_CONTINUE)),
            2u);
  EXPECT_EQ(r.at(2).source, VerdictSource::kDispatcher);
  EXPECT_EQ(r.at(2).verdict.action(), v1::ACTION_CONTINUE);
}

TEST(FreshCache, WithoutTtlEveryEventGoesToTheDispatcher) {
  Harness h;
  Recorder r;
  EvaluateAnswering(h, r, Rcpt("a@example.com"), MakeVerdict(v1::ACTION_CONTINUE));
  EXPECT_EQ(EvaluateAnswering(h, r, Rcpt("a@example.com"), MakeVerdict(v1::ACTION_CONTINUE)), 2u);
  EXPECT_EQ(h.sink->fresh_cache().size(), 0u);
}

TEST(FreshCache, OtherCommandsAreNotEquivalent) {
  Harness h;
  Recorder r;
  EvaluateAnswering(h, r, Rcpt("a@example.com"), Reusable(v1::ACTION_REJECT, milliseconds(1000)));
  // Another argument may match other bindings: not the same event for the cache.
  EXPECT_EQ(EvaluateAnswering(h, r, Rcpt("b@example.com"), MakeVerdict(v1::ACTION_CONTINUE)), 2u);
  EXPECT_EQ(EvaluateAnswering(
                h, r, MakeEvent(v1::EVENT_TYPE_INBOUND_COMMAND, "MAIL", "TO:<a@example.com>"),
                MakeVerdict(v1::ACTION_CONTINUE)),
            3u);
  v1::Event other_instance = Rcpt("a@example.com");
  other_instance.mutable_session()->set_instance(2);
  EXPECT_EQ(EvaluateAnswering(h, r, other_instance, MakeVerdict(v1::ACTION_CONTINUE)), 4u);
  // The keyword's case does not matter; the command line alone (no keyword field) works too.
  v1::Event lower = Rcpt("a@example.com");
  lower.mutable_command()->set_keyword("rcpt");
  EXPECT_EQ(EvaluateAnswering(h, r, lower, MakeVerdict(v1::ACTION_CONTINUE)), 4u);
  v1::Event line_only = Rcpt("a@example.com");
  line_only.mutable_command()->clear_keyword();
  line_only.mutable_command()->clear_argument();
  EXPECT_EQ(EvaluateAnswering(h, r, line_only, MakeVerdict(v1::ACTION_CONTINUE)), 4u);
  EXPECT_EQ(r.at(5).source, VerdictSource::kCache);
}

TEST(FreshCache, ClientAddressScopeNeedsTheSameClient) {
  Harness h;
  Recorder r;
  const auto v = Reusable(v1::ACTION_REJECT, milliseconds(1000), v1::CACHE_SCOPE_CLIENT_ADDRESS);
  EvaluateAnswering(h, r, Rcpt("a@example.com", "192.0.2.1"), v);
  EXPECT_EQ(
      EvaluateAnswering(h, r, Rcpt("a@example.com", "192.0.2.2"), MakeVerdict(v1::ACTION_CONTINUE)),
      2u);
  EXPECT_EQ(
      EvaluateAnswering(h, r, Rcpt("a@example.com", "192.0.2.1"), MakeVerdict(v1::ACTION_CONTINUE)),
      2u);
  EXPECT_EQ(r.at(2).source, VerdictSource::kCache);
  EXPECT_EQ(r.at(2).verdict.action(), v1::ACTION_REJECT);
}

TEST(FreshCache, SessionScopeNeedsTheSameSession) {
  Harness h;
  Recorder r;
  const auto v = Reusable(v1::ACTION_CONTINUE, milliseconds(1000), v1::CACHE_SCOPE_SESSION);
  EvaluateAnswering(h, r, Rcpt("a@example.com"), v);
  v1::Event other_session = Rcpt("a@example.com");
  other_session.mutable_session()->set_session_id("s-2");
  EXPECT_EQ(EvaluateAnswering(h, r, other_session, MakeVerdict(v1::ACTION_CONTINUE)), 2u);
  EXPECT_EQ(EvaluateAnswering(h, r, Rcpt("a@example.com"), MakeVerdict(v1::ACTION_CONTINUE)), 2u);
  EXPECT_EQ(r.at(2).source, VerdictSource::kCache);
}

TEST(FreshCache, SenderScopeWithoutASenderIsNotCached) {
  Harness h;
  Recorder r;
  const auto v = Reusable(v1::ACTION_CONTINUE, milliseconds(1000), v1::CACHE_SCOPE_SENDER);
  EvaluateAnswering(h, r, Rcpt("a@example.com"), v);  // no envelope sender yet
  EXPECT_EQ(h.sink->fresh_cache().size(), 0u);
  v1::Event with_sender = Rcpt("a@example.com");
  with_sender.mutable_envelope()->set_sender("Boss@Example.com");
  with_sender.mutable_envelope()->set_has_sender(true);
  EvaluateAnswering(h, r, with_sender, v);
  with_sender.mutable_envelope()->set_sender("boss@example.com");
  EXPECT_EQ(EvaluateAnswering(h, r, with_sender, MakeVerdict(v1::ACTION_CONTINUE)), 2u);
  EXPECT_EQ(r.at(2).source, VerdictSource::kCache);
}

TEST(FreshCache, EndOfDataIsNeverCached) {
  Harness h;
  Recorder r;
  const auto v = Reusable(v1::ACTION_REJECT, milliseconds(1000));
  const v1::Event eod = MakeEvent(v1::EVENT_TYPE_INBOUND_COMMAND, "_EOD");
  EvaluateAnswering(h, r, eod, v);
  EXPECT_EQ(EvaluateAnswering(h, r, eod, v), 2u);
  EXPECT_EQ(h.sink->fresh_cache().size(), 0u);
}

TEST(FreshCache, BoundedLeastRecentlyUsedFirst) {
  SinkOptions o = QuietOptions();
  o.fresh_cache.max_entries = 2;
  Harness h(o);
  Recorder r;
  const auto v = Reusable(v1::ACTION_REJECT, milliseconds(1000));
  EvaluateAnswering(h, r, Rcpt("a@example.com"), v);
  EvaluateAnswering(h, r, Rcpt("b@example.com"), v);
  EXPECT_EQ(EvaluateAnswering(h, r, Rcpt("a@example.com"), v), 2u);  // hit: a is now recent
  EvaluateAnswering(h, r, Rcpt("c@example.com"), v);                 // evicts b
  EXPECT_EQ(h.sink->fresh_cache().size(), 2u);
  EXPECT_EQ(EvaluateAnswering(h, r, Rcpt("a@example.com"), v), 3u);
  EXPECT_EQ(EvaluateAnswering(h, r, Rcpt("b@example.com"), v), 4u);
}

TEST(FreshCache, DisabledByConfig) {
  SinkOptions o = QuietOptions();
  o.fresh_cache.enabled = false;
  Harness h(o);
  Recorder r;
  const auto v = Reusable(v1::ACTION_REJECT, milliseconds(1000));
  EvaluateAnswering(h, r, Rcpt("a@example.com"), v);
  EXPECT_EQ(EvaluateAnswering(h, r, Rcpt("a@example.com"), v), 2u);
}

TEST(FreshCache, AnswersEvenWhileTheBreakerIsOpen) {
  SinkOptions o = QuietOptions();
  o.breaker.failure_threshold = 1;
  Harness h(o);
  Recorder r;
  EvaluateAnswering(h, r, Rcpt("a@example.com"), Reusable(v1::ACTION_REJECT, milliseconds(1000)));
  h.sink->Evaluate(Rcpt("b@example.com"), kBudget, r.Callback());
  h.fake->Fail(1, grpc::StatusCode::UNAVAILABLE);
  ASSERT_EQ(h.sink->breaker().state(), CircuitBreaker::State::kOpen);
  h.sink->Evaluate(Rcpt("a@example.com"), kBudget, r.Callback());
  EXPECT_EQ(r.at(2).source, VerdictSource::kCache);
  EXPECT_EQ(r.at(2).verdict.action(), v1::ACTION_REJECT);
}

TEST(FreshCache, NewBindingsGenerationForgetsFreshVerdicts) {
  SinkOptions o = QuietOptions();
  o.interests.enabled = true;
  o.interests.refresh_after = milliseconds(100);
  Harness h(o);
  Recorder r;
  v1::GetInterestsResponse interests;
  interests.set_generation(1);
  h.fake->interests_call(0)->Finish(grpc::Status::OK, interests);
  EvaluateAnswering(h, r, Rcpt("a@example.com"), Reusable(v1::ACTION_REJECT, milliseconds(60000)));
  EXPECT_EQ(h.sink->fresh_cache().size(), 1u);
  h.timers->Advance(milliseconds(100));
  ASSERT_EQ(h.fake->interests_count(), 2u);
  h.fake->interests_call(1)->Finish(grpc::Status::OK, interests);  // same generation: kept
  EXPECT_EQ(h.sink->fresh_cache().size(), 1u);
  h.timers->Advance(milliseconds(100));
  ASSERT_EQ(h.fake->interests_count(), 3u);
  interests.set_generation(2);
  h.fake->interests_call(2)->Finish(grpc::Status::OK, interests);
  EXPECT_EQ(h.sink->fresh_cache().size(), 0u);
  EXPECT_EQ(EvaluateAnswering(h, r, Rcpt("a@example.com"), MakeVerdict(v1::ACTION_CONTINUE)), 2u);
}

TEST(FreshCache, SourceNames) { EXPECT_EQ(VerdictSourceName(VerdictSource::kCache), "cache"); }

}  // namespace
}  // namespace smtpbridge::sink::testing
