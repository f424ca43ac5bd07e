// Admission control in the fan-out, with a fake worker client and simulated time: the global
// in-flight limit and per-pool limits shed events at once (no call goes out), slots are freed
// when the answer or the call's outcome is known, observe-mode calls over a limit are skipped.
#include "dispatch/admission.h"

#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bindings/loader.h"
#include "dispatch/fanout.h"
#include "fakes.h"
#include "server/decision_log.h"
#include "server/recorder.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/shed.h"
#include "support/temp_dir.h"

namespace smtpbridge::dispatcher {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeSinkClient;

constexpr const char* kBindings = R"(bindings:
  - {name: one, event: INBOUND_COMMAND, rule: "RCPT TO=*@one", sink: "pool:1", timeout: 100ms}
  - {name: two, event: INBOUND_COMMAND, rule: "RCPT TO=*@two", sink: "pool:2", timeout: 100ms}
  - {name: watch, event: INBOUND_COMMAND, rule: "RCPT TO=*@two", sink: "pool:1", timeout: 100ms, mode: observe}
)";

class AdmissionTest : public ::testing::Test {
 protected:
  void Start(AdmissionOptions options) {
    auto result = LoadBindingsText(kBindings, "test.yaml");
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
    bindings_ = result.set;
    admission_ = std::make_unique<Admission>(options);
    fanout_.set_admission(admission_.get());
  }

  // Starts one event; returns the index of its answer in answers_ (filled when it comes).
  size_t Send(const std::string& to) {
    v1::Event e;
    e.set_event_id("ev-" + std::to_string(answers_.size()));
    e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    e.mutable_session()->set_instance(1);
    e.mutable_command()->set_keyword("RCPT");
    e.mutable_command()->set_argument("TO:<" + to + ">");
    e.mutable_envelope()->set_recipient(to);
    *e.mutable_budget() = v1::ToProtoDuration(200ms);
    const size_t i = answers_.size();
    answers_.emplace_back();
    fanout_.Evaluate(bindings_, e, false, [this, i](v1::EvaluateResponse r) { answers_[i] = r; });
    return i;
  }
  bool Shed(size_t i, std::string_view reason) {
    return answers_[i] && v1::IsShedResponse(*answers_[i]) &&
           v1::ShedReason(*answers_[i]) == reason;
  }

  FakeClock clock_;
  FakeSinkClient client_;
  FanOut fanout_{&client_, &clock_, nullptr, nullptr};
  std::unique_ptr<Admission> admission_;
  std::shared_ptr<const BindingSet> bindings_;
  std::deque<std::optional<v1::EvaluateResponse>> answers_;
};

TEST_F(AdmissionTest, OverTheGlobalLimitAnEventIsShedAtOnceWithoutACall) {
  Start({.max_in_flight = 2});
  Send("a@one");
  Send("b@one");
  EXPECT_EQ(admission_->in_flight(), 2u);
  const size_t third = Send("c@one");
  ASSERT_TRUE(Shed(third, kShedInFlight));  // answered inline, no time passed
  EXPECT_EQ(client_.calls_to("one"), 2u);
  const auto& r = *answers_[third];
  EXPECT_EQ(r.verdict().action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(r.verdict().reply().code(), 451u);
  // An answer frees a slot.
  ASSERT_TRUE(client_.Reply("one", {}));
  EXPECT_EQ(admission_->in_flight(), 1u);
  const size_t fourth = Send("d@one");
  EXPECT_FALSE(answers_[fourth]);
  EXPECT_EQ(client_.calls_to("one"), 3u);
  // A timeout frees them too.
  clock_.Advance(100ms);
  EXPECT_EQ(admission_->in_flight(), 0u);
}

TEST_F(AdmissionTest, AFullPoolShedsOnlyTheEventsThatNeedIt) {
  Start({.pool_limit = 1});
  Send("a@one");
  const size_t over = Send("b@one");
  EXPECT_TRUE(Shed(over, kShedPoolLimit));
  EXPECT_EQ(client_.calls_to("one"), 1u);
  EXPECT_EQ(admission_->in_flight(), 1u);  // the shed event holds nothing
  // Another pool is not affected (its observe-mode call to the full pool is just not made).
  const size_t other = Send("c@two");
  EXPECT_FALSE(answers_[other]);
  EXPECT_EQ(client_.calls_to("two"), 1u);
  EXPECT_EQ(client_.calls_to("watch"), 0u);
  // The pool's slot is free once its call's outcome is known (here: the timeout).
  clock_.Advance(100ms);
  EXPECT_EQ(admission_->Pool("pool:1")->in_flight(), 0u);
  Send("d@one");
  EXPECT_EQ(client_.calls_to("one"), 2u);
}

TEST_F(AdmissionTest, ShedEventsAreAnsweredWithinMicrosecondsOfSimulatedTime) {
  Start({.max_in_flight = 1});
  Send("a@one");
  for (int i = 0; i < 100; ++i) {
    const size_t n = Send("x@one");
    ASSERT_TRUE(Shed(n, kShedInFlight));
    EXPECT_EQ(v1::FromProtoDuration(answers_[n]->elapsed()), std::chrono::nanoseconds(0));
  }
  EXPECT_EQ(client_.total_calls(), 1u);
  EXPECT_EQ(clock_.pending_timers(), 1u);  // only the admitted event's deadline
}

TEST_F(AdmissionTest, UnlimitedStillCountsInFlight) {
  Start({});
  for (int i = 0; i < 5; ++i) Send("a@one");
  EXPECT_EQ(admission_->in_flight(), 5u);
  EXPECT_EQ(admission_->Pool("pool:1")->in_flight(), 5u);
  EXPECT_EQ(admission_->Pool("pool:1")->limit(), 0u);
  while (client_.Reply("one", {})) {
  }
  EXPECT_EQ(admission_->in_flight(), 0u);
  EXPECT_EQ(admission_->Pool("pool:1")->in_flight(), 0u);
}

// A shed event still gets its decision log line (server/decision_log.h), through the same
// Recorder the server uses: outcome "shed", its reason, every binding it kept from running.
TEST(AdmissionDecisionLog, AShedEventWritesALineWithOutcomeShed) {
  smtpbridge::testing::TempDir dir;
  std::string error;
  auto log = DecisionLog::Open({.path = (dir / "decisions.log").string()}, &error);
  ASSERT_TRUE(log) << error;
  Recorder recorder(nullptr, nullptr);
  recorder.SetDecisionLog(log.get());
  FakeClock clock;
  FakeSinkClient client;
  FanOut fanout(&client, &clock, nullptr, &recorder);
  Admission admission({.max_in_flight = 1});
  fanout.set_admission(&admission);
  auto result = LoadBindingsText(kBindings, "test.yaml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);

  std::vector<v1::EvaluateResponse> answers;
  for (const std::string id : {"held", "shed"}) {
    v1::Event e;
    e.set_event_id(id);
    e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    e.mutable_session()->set_session_id("s-1");
    e.mutable_command()->set_keyword("RCPT");
    e.mutable_envelope()->set_recipient("b@two");
    *e.mutable_budget() = v1::ToProtoDuration(200ms);
    fanout.Evaluate(result.set, e, false,
                    [&answers](v1::EvaluateResponse r) { answers.push_back(std::move(r)); });
  }
  ASSERT_EQ(answers.size(), 1u);  // the shed one, at once
  ASSERT_TRUE(v1::IsShedResponse(answers[0]));
  std::ifstream in(dir / "decisions.log");
  std::string text;
  ASSERT_TRUE(std::getline(in, text)) << "no decision line for the shed event";
  const auto line = nlohmann::json::parse(text);
  EXPECT_EQ(line["kind"], "decision");
  EXPECT_EQ(line["event_id"], "shed");
  EXPECT_EQ(line["session_id"], "s-1");
  EXPECT_EQ(line["outcome"], "shed");
  EXPECT_EQ(line["shed_reason"], kShedInFlight);
  EXPECT_EQ(line["source"], "shed");
  EXPECT_EQ(line["decided_by"], "");
  EXPECT_EQ(line["verdict"]["action"], "tempfail");
  EXPECT_EQ(line["verdict"]["code"], 451);
  // Both bindings on b@two (enforce "two", observe "watch") were kept from running.
  ASSERT_EQ(line["bindings"].size(), 2u);
  for (const auto& b : line["bindings"]) {
    EXPECT_EQ(b["outcome"], "shed") << b.dump();
    EXPECT_FALSE(b.contains("verdict")) << b.dump();
    EXPECT_FALSE(b.contains("latency_us")) << b.dump();
  }
  EXPECT_FALSE(std::getline(in, text)) << "the held event is not decided yet: " << text;
  EXPECT_EQ(log->written(), 1u);

  // Its answer (the timeout here) is an ordinary decision line.
  clock.Advance(100ms);
  ASSERT_EQ(answers.size(), 2u);
  in.clear();
  ASSERT_TRUE(std::getline(in, text));
  EXPECT_EQ(nlohmann::json::parse(text)["outcome"], "decided");
  EXPECT_FALSE(nlohmann::json::parse(text).contains("shed_reason"));
}

// A decided event whose observe-mode call was skipped at its full pool: that binding's outcome in
// the decision line is "shed" too.
TEST(AdmissionDecisionLog, AnObserveCallSkippedAtItsFullPoolIsShedInTheLine) {
  smtpbridge::testing::TempDir dir;
  std::string error;
  auto log = DecisionLog::Open({.path = (dir / "decisions.log").string()}, &error);
  ASSERT_TRUE(log) << error;
  Recorder recorder(nullptr, nullptr);
  recorder.SetDecisionLog(log.get());
  FakeClock clock;
  FakeSinkClient client;
  FanOut fanout(&client, &clock, nullptr, &recorder);
  Admission admission({.pool_limit = 1});
  fanout.set_admission(&admission);
  auto result = LoadBindingsText(kBindings, "test.yaml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  int answers = 0;
  for (const std::string to : {"a@one", "b@two"}) {  // a@one fills pool:1, where "watch" goes
    v1::Event e;
    e.set_event_id(to);
    e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    e.mutable_command()->set_keyword("RCPT");
    e.mutable_envelope()->set_recipient(to);
    *e.mutable_budget() = v1::ToProtoDuration(200ms);
    fanout.Evaluate(result.set, e, false, [&answers](v1::EvaluateResponse) { ++answers; });
  }
  v1::Verdict reject;
  reject.set_action(v1::ACTION_REJECT);
  ASSERT_TRUE(client.Reply("two", reject));
  ASSERT_EQ(answers, 1);
  std::ifstream in(dir / "decisions.log");
  std::string text;
  ASSERT_TRUE(std::getline(in, text));
  const auto line = nlohmann::json::parse(text);
  EXPECT_EQ(line["event_id"], "b@two");
  EXPECT_EQ(line["outcome"], "decided");
  EXPECT_EQ(line["source"], "worker");
  ASSERT_EQ(line["bindings"].size(), 2u) << text;
  for (const auto& b : line["bindings"]) {
    EXPECT_EQ(b["outcome"], b["name"] == "watch" ? "shed" : "answered") << b.dump();
  }
}

TEST(AdmissionRetain, AReloadForgetsThePoolsNoBindingNames) {
  Admission admission({.pool_limit = 3});
  auto kept = admission.Pool("w:1");
  auto held = admission.Pool("w:2");
  ASSERT_TRUE(held->TryAcquire());
  admission.Retain({"w:1"});
  ASSERT_EQ(admission.pools().size(), 1u);
  EXPECT_EQ(admission.pools()[0].target, "w:1");
  EXPECT_EQ(admission.Pool("w:1"), kept);
  held->Release({});  // a call still holding the old pool's slot ends harmlessly
}

}  // namespace
}  // namespace smtpbridge::dispatcher
