// The fan-out with a fake worker client and simulated time: parallel calls, priority commit,
// early answer, per-binding deadlines, observe mode, on_error, verdict cache.
#include "dispatch/fanout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

#include "bindings/loader.h"
#include "fakes.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::FakeClock;
using testing::FakeSinkClient;

class RecordingObserver : public DispatchObserver {
 public:
  void OnOutcome(const EventInfo&, const v1::Binding& binding,
                 const v1::SinkOutcome& outcome) override {
    std::lock_guard lock(mu);
    outcomes.emplace_back(binding.name(), outcome);
  }
  void OnDecision(const EventInfo&, const v1::EvaluateResponse&) override {
    std::lock_guard lock(mu);
    ++decisions;
  }
  void OnHedge(const EventInfo&, const v1::Binding&) override {
    std::lock_guard lock(mu);
    ++hedges;
  }
  void OnInvalidVerdict(const EventInfo&, const v1::Binding& binding,
                        const VerdictCheck& check) override {
    std::lock_guard lock(mu);
    invalid.emplace_back(binding.name() + ":" + std::string(VerdictProblemName(check.problem)));
  }
  std::optional<v1::SinkOutcome> Find(const std::string& name) {
    std::lock_guard lock(mu);
    for (const auto& [n, o] : outcomes) {
      if (n == name) return o;
    }
    return std::nullopt;
  }
  std::mutex mu;
  std::vector<std::pair<std::string, v1::SinkOutcome>> outcomes;
  int decisions = 0;
  int hedges = 0;
  std::vector<std::string> invalid;
};

v1::Verdict Action(v1::Action action, uint32_t code = 0) {
  v1::Verdict v;
  v.set_action(action);
  if (code) v.mutable_reply()->set_code(code);
  return v;
}

class FanOutTest : public ::testing::Test {
 protected:
  void Load(const std::string& yaml) {
    auto result = LoadBindingsText(yaml, "test.yaml");
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
    bindings_ = result.set;
  }

  static v1::Event Rcpt(const std::string& address, std::chrono::milliseconds budget = 200ms) {
    v1::Event e;
    e.set_event_id("ev-1");
    e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    e.mutable_session()->set_instance(1);
    e.mutable_session()->set_session_id("s-1");
    e.mutable_command()->set_keyword("RCPT");
    e.mutable_command()->set_argument("TO:<" + address + ">");
    e.mutable_envelope()->set_recipient(address);
    *e.mutable_budget() = v1::ToProtoDuration(budget);
    return e;
  }

  // Starts an evaluation; the answer lands in `response_`.
  void Evaluate(const v1::Event& event, bool explain = true) {
    response_.reset();
    fanout_.Evaluate(bindings_, event, explain, [this](v1::EvaluateResponse r) {
      std::lock_guard lock(mu_);
      ASSERT_FALSE(response_) << "answered twice";
      response_ = std::move(r);
    });
  }
  bool answered() {
    std::lock_guard lock(mu_);
    return response_.has_value();
  }
  v1::EvaluateResponse response() {
    std::lock_guard lock(mu_);
    return *response_;
  }
  const v1::SinkOutcome& OutcomeOf(const v1::EvaluateResponse& r, const std::string& name) {
    for (const auto& o : r.outcomes()) {
      if (o.binding() == name) return o;
    }
    static v1::SinkOutcome none;
    ADD_FAILURE() << "no outcome for " << name;
    return none;
  }

  FakeClock clock_;
  FakeSinkClient client_;
  VerdictCache cache_;
  RecordingObserver observer_;
  FanOut fanout_{&client_, &clock_, &cache_, &observer_};
  std::shared_ptr<const BindingSet> bindings_;
  std::mutex mu_;
  std::optional<v1::EvaluateResponse> response_;
};

constexpr const char* kTwoBindings = R"(bindings:
  - {name: high, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", priority: 10, timeout: 100ms}
  - {name: low, event: INBOUND_COMMAND, rule: RCPT, sink: "w:2", priority: 20, timeout: 100ms}
)";

TEST_F(FanOutTest, CallsEveryMatchingBindingInParallel) {
  Load(kTwoBindings);
  Evaluate(Rcpt("a@b"));
  EXPECT_EQ(client_.calls_to("high"), 1u);
  EXPECT_EQ(client_.calls_to("low"), 1u);
  EXPECT_EQ(client_.last("high").target, "w:1");
  EXPECT_EQ(client_.last("low").request->binding().name(), "low");
  EXPECT_EQ(client_.last("low").request->event().event_id(), "ev-1");
  EXPECT_FALSE(answered());
}

TEST_F(FanOutTest, AnswersOnceHighPriorityConsumesAndCancelsTheSlowLowerOne) {
  Load(kTwoBindings);
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Reply("high", Action(v1::ACTION_REJECT, 550)));
  // Settled without waiting for "low": answered now, with no time passing.
  ASSERT_TRUE(answered());
  const auto r = response();
  EXPECT_EQ(r.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(r.decided_by(), "high");
  EXPECT_EQ(r.matched(), 2u);
  EXPECT_TRUE(client_.cancelled("low"));
  EXPECT_EQ(OutcomeOf(r, "low").kind(), v1::SINK_OUTCOME_KIND_CANCELLED);
  EXPECT_EQ(OutcomeOf(r, "high").kind(), v1::SINK_OUTCOME_KIND_ANSWERED);
  EXPECT_EQ(clock_.pending_timers(), 0u);  // both deadline timers gone
  EXPECT_EQ(fanout_.live(), 0u);
}

TEST_F(FanOutTest, LowerPriorityVerdictWaitsForHigherOnes) {
  Load(kTwoBindings);
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Reply("low", Action(v1::ACTION_TEMPFAIL, 451)));
  EXPECT_FALSE(answered());  // "high" could still reject
  ASSERT_TRUE(client_.Reply("high", Action(v1::ACTION_CONTINUE)));
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().verdict().action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(response().decided_by(), "low");
}

TEST_F(FanOutTest, HigherPriorityNonContinueOverridesAnEarlierLowerAnswer) {
  Load(kTwoBindings);
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Reply("low", Action(v1::ACTION_REJECT, 550)));
  ASSERT_TRUE(client_.Reply("high", Action(v1::ACTION_RESPOND, 250)));
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().verdict().action(), v1::ACTION_RESPOND);
  EXPECT_EQ(response().decided_by(), "high");
}

TEST_F(FanOutTest, TiesCommitInDeclarationOrder) {
  Load(R"(bindings:
  - {name: first, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", priority: 5}
  - {name: second, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", priority: 5}
)");
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Reply("second", Action(v1::ACTION_REJECT, 550)));
  EXPECT_FALSE(answered());
  ASSERT_TRUE(client_.Reply("first", Action(v1::ACTION_TEMPFAIL, 451)));
  EXPECT_EQ(response().decided_by(), "first");
}

TEST_F(FanOutTest, ContinueVerdictsAccumulate) {
  Load(kTwoBindings);
  Evaluate(Rcpt("a@b"));
  v1::Verdict low = Action(v1::ACTION_CONTINUE);
  low.mutable_command()->set_append(" B");
  low.add_tags("low");
  v1::Verdict high = Action(v1::ACTION_CONTINUE);
  high.mutable_command()->set_append(" A");
  high.add_tags("high");
  ASSERT_TRUE(client_.Reply("low", low));
  ASSERT_TRUE(client_.Reply("high", high));
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(response().verdict().command().append(), " A B");
  EXPECT_THAT(response().verdict().tags(), ElementsAre("high", "low"));
  EXPECT_TRUE(response().decided_by().empty());
}

TEST_F(FanOutTest, EachCallGetsItsTimeoutOrTheBudgetLeftWhicheverIsSooner) {
  Load(R"(bindings:
  - {name: short, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", timeout: 10ms}
  - {name: long, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", timeout: 60s}
)");
  const auto start = clock_.Now();
  Evaluate(Rcpt("a@b", 30ms));
  EXPECT_EQ(client_.last("short").deadline, start + 10ms);
  EXPECT_EQ(client_.last("long").deadline, start + 30ms);
  EXPECT_EQ(v1::FromProtoDuration(client_.last("long").request->time_left()), 30ms);
}

TEST_F(FanOutTest, TimeoutAppliesOnErrorTempfail) {
  Load(R"(bindings:
  - {name: slow, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", timeout: 50ms, on_error: tempfail}
)");
  Evaluate(Rcpt("a@b", 20ms));
  clock_.Advance(19ms);
  EXPECT_FALSE(answered());
  clock_.Advance(1ms);  // the budget (20ms) is shorter than the timeout (50ms)
  ASSERT_TRUE(answered());
  const auto r = response();
  EXPECT_EQ(r.verdict().action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(v1::ReplyText(r.verdict().reply()), "451 4.7.1 Temporary policy failure");
  EXPECT_EQ(r.decided_by(), "slow");
  EXPECT_EQ(OutcomeOf(r, "slow").kind(), v1::SINK_OUTCOME_KIND_TIMEOUT);
  EXPECT_TRUE(client_.cancelled("slow"));
  // A late answer changes nothing.
  EXPECT_FALSE(client_.Reply("slow", Action(v1::ACTION_CONTINUE)));
}

TEST_F(FanOutTest, TimeoutWithContinueFailsOpen) {
  Load(R"(bindings:
  - {name: slow, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", timeout: 5ms}
  - {name: fast, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", priority: 30000}
)");
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Reply("fast", Action(v1::ACTION_CONTINUE)));
  EXPECT_FALSE(answered());
  clock_.Advance(5ms);
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(observer_.Find("slow")->kind(), v1::SINK_OUTCOME_KIND_TIMEOUT);
}

TEST_F(FanOutTest, WorkerErrorAppliesOnErrorReject) {
  Load(R"(bindings:
  - {name: broken, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", on_error: reject}
)");
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(
      client_.Fail("broken", grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused")));
  ASSERT_TRUE(answered());
  const auto r = response();
  EXPECT_EQ(r.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(r.verdict().reply().code(), 550u);
  EXPECT_EQ(OutcomeOf(r, "broken").kind(), v1::SINK_OUTCOME_KIND_ERROR);
  EXPECT_EQ(OutcomeOf(r, "broken").error(), "error: connection refused");
  EXPECT_EQ(r.verdict().reason(), "binding broken: error: connection refused (on_error=reject)");
}

TEST_F(FanOutTest, DeadlineExceededFromTheWorkerCountsAsTimeout) {
  Load(R"(bindings:
  - {name: w, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1"}
)");
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(
      client_.Fail("w", grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded")));
  EXPECT_EQ(OutcomeOf(response(), "w").kind(), v1::SINK_OUTCOME_KIND_TIMEOUT);
  EXPECT_EQ(response().verdict().action(), v1::ACTION_CONTINUE);
}

TEST_F(FanOutTest, ObserveModeIsNeverEnforcedNorWaitedFor) {
  Load(R"(bindings:
  - {name: watcher, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", priority: 0, mode: observe, timeout: 5s}
  - {name: enforcer, event: INBOUND_COMMAND, rule: RCPT, sink: "w:2", priority: 100}
)");
  Evaluate(Rcpt("a@b"));
  EXPECT_EQ(client_.calls_to("watcher"), 1u);
  ASSERT_TRUE(client_.Reply("enforcer", Action(v1::ACTION_CONTINUE)));
  ASSERT_TRUE(answered());  // the slow observer is not waited for
  const auto r = response();
  EXPECT_EQ(r.verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(r.matched(), 1u);
  EXPECT_TRUE(OutcomeOf(r, "watcher").observed());
  EXPECT_EQ(OutcomeOf(r, "watcher").kind(), v1::SINK_OUTCOME_KIND_UNSPECIFIED);
  EXPECT_FALSE(client_.cancelled("watcher"));  // still evaluated
  EXPECT_EQ(fanout_.live(), 1u);
  // Its reject arrives later: recorded, not enforced.
  ASSERT_TRUE(client_.Reply("watcher", Action(v1::ACTION_REJECT, 550)));
  const auto recorded = observer_.Find("watcher");
  ASSERT_TRUE(recorded);
  EXPECT_EQ(recorded->kind(), v1::SINK_OUTCOME_KIND_ANSWERED);
  EXPECT_EQ(recorded->verdict().action(), v1::ACTION_REJECT);
  EXPECT_TRUE(recorded->observed());
  EXPECT_EQ(observer_.decisions, 1);
  EXPECT_EQ(fanout_.live(), 0u);
}

TEST_F(FanOutTest, ObserveRejectThatArrivesFirstDoesNotDecide) {
  Load(R"(bindings:
  - {name: watcher, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", priority: 0, mode: observe}
  - {name: enforcer, event: INBOUND_COMMAND, rule: RCPT, sink: "w:2", priority: 100}
)");
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Reply("watcher", Action(v1::ACTION_REJECT, 550)));
  EXPECT_FALSE(answered());
  ASSERT_TRUE(client_.Reply("enforcer", Action(v1::ACTION_CONTINUE)));
  EXPECT_EQ(response().verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(OutcomeOf(response(), "watcher").verdict().action(), v1::ACTION_REJECT);
}

TEST_F(FanOutTest, OnlyObserveBindingsAnswerContinueAtOnce) {
  Load(R"(bindings:
  - {name: watcher, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", mode: observe}
)");
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(client_.calls_to("watcher"), 1u);
  clock_.Advance(1s);  // its timeout fires; recorded as such
  EXPECT_EQ(observer_.Find("watcher")->kind(), v1::SINK_OUTCOME_KIND_TIMEOUT);
}

TEST_F(FanOutTest, NoMatchingBindingAnswersContinueInline) {
  Load(kTwoBindings);
  v1::Event quit = Rcpt("a@b");
  quit.mutable_command()->set_keyword("QUIT");
  Evaluate(quit);
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(response().matched(), 0u);
  EXPECT_EQ(client_.total_calls(), 0u);
}

TEST_F(FanOutTest, CachedVerdictAvoidsTheCallUntilItsTtlExpires) {
  Load(R"(bindings:
  - {name: rcpt-check, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1"}
)");
  v1::Verdict cacheable = Action(v1::ACTION_REJECT, 550);
  *cacheable.mutable_cache_ttl() = v1::ToProtoDuration(10s);
  cacheable.set_cache_scope(v1::CACHE_SCOPE_RECIPIENT);
  Evaluate(Rcpt("spam@x"));
  ASSERT_TRUE(client_.Reply("rcpt-check", cacheable));
  ASSERT_TRUE(answered());

  Evaluate(Rcpt("SPAM@x"));  // same recipient, other case
  ASSERT_TRUE(answered());
  EXPECT_EQ(client_.calls_to("rcpt-check"), 1u);
  EXPECT_EQ(response().verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(OutcomeOf(response(), "rcpt-check").kind(), v1::SINK_OUTCOME_KIND_CACHED);

  Evaluate(Rcpt("other@x"));  // another recipient: asked
  EXPECT_EQ(client_.calls_to("rcpt-check"), 2u);
  ASSERT_TRUE(client_.Reply("rcpt-check", Action(v1::ACTION_CONTINUE)));

  clock_.Advance(10s);
  Evaluate(Rcpt("spam@x"));  // expired
  EXPECT_FALSE(answered());
  EXPECT_EQ(client_.calls_to("rcpt-check"), 3u);
  ASSERT_TRUE(client_.Reply("rcpt-check", Action(v1::ACTION_CONTINUE)));
}

TEST_F(FanOutTest, BodyIsCutToTheBindingsLimit) {
  Load(R"(bindings:
  - {name: headers-only, event: INBOUND_COMMAND, rule: _EOD, sink: "w:1"}
  - {name: some-body, event: INBOUND_COMMAND, rule: _EOD, sink: "w:1", body_limit: 4}
)");
  v1::Event eod = Rcpt("a@b");
  eod.mutable_command()->set_keyword("_EOD");
  eod.mutable_command()->clear_argument();
  eod.mutable_message()->set_body("0123456789");
  Evaluate(eod);
  EXPECT_EQ(client_.last("headers-only").request->event().message().body(), "");
  EXPECT_TRUE(client_.last("headers-only").request->event().message().body_truncated());
  EXPECT_EQ(client_.last("some-body").request->event().message().body(), "0123");
  client_.Reply("headers-only", {});
  client_.Reply("some-body", {});
  EXPECT_TRUE(answered());
}

constexpr const char* kHedged = R"(bindings:
  - {name: hedged, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", timeout: 100ms, hedge_after: 10ms}
)";

TEST_F(FanOutTest, HedgeSendsASecondCopyAfterHedgeAfterAndTheFirstAnswerWins) {
  Load(kHedged);
  Evaluate(Rcpt("a@b"));
  clock_.Advance(std::chrono::microseconds(9999));
  EXPECT_EQ(client_.calls_to("hedged"), 1u);
  clock_.Advance(std::chrono::microseconds(1));
  ASSERT_EQ(client_.calls_to("hedged"), 2u);
  EXPECT_EQ(client_.last("hedged").request->event().event_id(), "ev-1");
  EXPECT_EQ(observer_.hedges, 1);
  ASSERT_TRUE(client_.Reply("hedged", Action(v1::ACTION_REJECT, 550)));  // the hedge answers
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(client_.pending_to("hedged"), 0u);  // the slow first copy was cancelled
  EXPECT_EQ(fanout_.live(), 0u);
}

TEST_F(FanOutTest, NoHedgeWhenTheFirstCopyAnswersInTime) {
  Load(kHedged);
  Evaluate(Rcpt("a@b"));
  clock_.Advance(5ms);
  ASSERT_TRUE(client_.Reply("hedged", Action(v1::ACTION_CONTINUE)));
  clock_.Advance(50ms);
  EXPECT_EQ(client_.calls_to("hedged"), 1u);
  EXPECT_EQ(observer_.hedges, 0);
  EXPECT_EQ(clock_.pending_timers(), 0u);
}

TEST_F(FanOutTest, AFailedCopyWaitsForTheOtherOne) {
  Load(kHedged);
  Evaluate(Rcpt("a@b"));
  clock_.Advance(10ms);
  ASSERT_EQ(client_.calls_to("hedged"), 2u);
  ASSERT_TRUE(client_.Fail("hedged", grpc::Status(grpc::StatusCode::UNAVAILABLE, "pod gone"),
                           /*oldest=*/true));
  EXPECT_FALSE(answered());
  ASSERT_TRUE(client_.Reply("hedged", Action(v1::ACTION_TEMPFAIL, 451)));
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().verdict().action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(OutcomeOf(response(), "hedged").kind(), v1::SINK_OUTCOME_KIND_ANSWERED);
}

TEST_F(FanOutTest, AnErrorBeforeTheHedgeIsTheAnswer) {
  Load(kHedged);
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Fail("hedged", grpc::Status(grpc::StatusCode::INTERNAL, "bug")));
  ASSERT_TRUE(answered());
  EXPECT_EQ(OutcomeOf(response(), "hedged").kind(), v1::SINK_OUTCOME_KIND_ERROR);
  clock_.Advance(50ms);
  EXPECT_EQ(client_.calls_to("hedged"), 1u);
}

TEST_F(FanOutTest, NoHedgeWhenTheBudgetEndsFirst) {
  Load(kHedged);
  Evaluate(Rcpt("a@b", 8ms));
  clock_.Advance(8ms);
  ASSERT_TRUE(answered());
  EXPECT_EQ(OutcomeOf(response(), "hedged").kind(), v1::SINK_OUTCOME_KIND_TIMEOUT);
  EXPECT_EQ(client_.calls_to("hedged"), 1u);
}

TEST_F(FanOutTest, ExplainOffLeavesOutcomesOut) {
  Load(kTwoBindings);
  Evaluate(Rcpt("a@b"), /*explain=*/false);
  client_.Reply("high", Action(v1::ACTION_REJECT, 550));
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().outcomes_size(), 0);
  EXPECT_EQ(observer_.Find("low")->kind(), v1::SINK_OUTCOME_KIND_CANCELLED);
}

// The priority bypass (#14): an invalid verdict from a higher-priority binding is that binding's
// error, so it neither decides nor cancels the lower-priority binding's valid 550.
TEST_F(FanOutTest, InvalidHighPriorityVerdictLetsTheLowerPriority550Win) {
  const std::vector<std::pair<std::string, v1::Verdict>> invalid = {
      {"respond 354", Action(v1::ACTION_RESPOND, 354)},
      {"respond 99", Action(v1::ACTION_RESPOND, 99)},
      {"respond without reply", Action(v1::ACTION_RESPOND)},
      {"unknown action", Action(static_cast<v1::Action>(42), 550)},
      {"reply with CR/LF",
       [] {
         auto v = Action(v1::ACTION_REJECT, 550);
         v.mutable_reply()->add_lines("no\r\n250 2.1.5 Ok");
         return v;
       }()},
  };
  for (const auto& [name, verdict] : invalid) {
    SCOPED_TRACE(name);
    Load(kTwoBindings);  // on_error: continue (the default)
    Evaluate(Rcpt("a@b"));
    ASSERT_TRUE(client_.Reply("high", verdict));
    EXPECT_FALSE(answered()) << "an invalid verdict must not decide";
    EXPECT_FALSE(client_.cancelled("low"));
    auto reject = Action(v1::ACTION_REJECT, 550);
    reject.mutable_reply()->set_enhanced_code("5.7.1");
    ASSERT_TRUE(client_.Reply("low", reject));
    ASSERT_TRUE(answered());
    const auto r = response();
    EXPECT_EQ(r.verdict().action(), v1::ACTION_REJECT);
    EXPECT_EQ(r.verdict().reply().code(), 550u);
    EXPECT_EQ(r.decided_by(), "low");
    EXPECT_EQ(OutcomeOf(r, "high").kind(), v1::SINK_OUTCOME_KIND_ERROR);
    EXPECT_THAT(OutcomeOf(r, "high").error(), ::testing::StartsWith("invalid verdict: "));
  }
  std::lock_guard lock(observer_.mu);
  EXPECT_THAT(observer_.invalid,
              ElementsAre("high:reply_class", "high:reply_code", "high:reply_missing",
                          "high:unknown_action", "high:reply_text"));
}

TEST_F(FanOutTest, InvalidVerdictAppliesTheBindingsOnError) {
  Load(R"(bindings:
  - {name: strict, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1", priority: 10, on_error: tempfail}
  - {name: low, event: INBOUND_COMMAND, rule: RCPT, sink: "w:2", priority: 20}
)");
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Reply("strict", Action(v1::ACTION_REJECT, 250)));
  ASSERT_TRUE(answered());
  const auto r = response();
  EXPECT_EQ(r.verdict().action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(r.verdict().reply().code(), 451u);
  EXPECT_EQ(r.decided_by(), "strict");
  EXPECT_EQ(OutcomeOf(r, "strict").kind(), v1::SINK_OUTCOME_KIND_ERROR);
}

TEST_F(FanOutTest, InvalidVerdictIsNeverCached) {
  Load(R"(bindings:
  - {name: w, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1"}
)");
  auto bad = Action(v1::ACTION_REJECT, 451);
  *bad.mutable_cache_ttl() = v1::ToProtoDuration(std::chrono::seconds(60));
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Reply("w", bad));
  ASSERT_TRUE(answered());
  EXPECT_EQ(response().verdict().action(), v1::ACTION_CONTINUE);
  Evaluate(Rcpt("a@b"));
  EXPECT_EQ(client_.calls_to("w"), 2u) << "the second event must go to the worker again";
}

TEST_F(FanOutTest, QuarantineWithALineBreakInItsReasonStillQuarantines) {
  Load(R"(bindings:
  - {name: w, event: INBOUND_COMMAND, rule: RCPT, sink: "w:1"}
)");
  v1::Verdict v;
  v.add_edits()->mutable_quarantine()->set_reason("spam\r\nX-Evil: 1");
  Evaluate(Rcpt("a@b"));
  ASSERT_TRUE(client_.Reply("w", v));
  ASSERT_TRUE(answered());
  const auto r = response();
  ASSERT_EQ(r.verdict().edits_size(), 1);
  EXPECT_EQ(r.verdict().edits(0).quarantine().reason(), "spam  X-Evil: 1");
}

}  // namespace
}  // namespace smtpbridge::dispatcher
