// A worker that errs or never answers contributes its binding's on_error within the budget, and
// a settled decision does not wait for lower-priority bindings.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "stack.h"

namespace smtpbridge::integration {
namespace {

using namespace std::chrono_literals;

class OnErrorTest : public ::testing::Test {
 protected:
  void StartWith(const std::vector<BindingSpec>& bindings) {
    const auto file = dir_.Write("bindings.yaml", BindingsYaml(bindings));
    dispatcher_ = StartDispatcher(dir_, file, "dispatcher");
    stub_ = DispatcherStub(dispatcher_.address);
  }

  // Evaluate through the raw Dispatcher stub. `call_timeout` bounds the RPC itself.
  grpc::Status Evaluate(const v1::Event& event, v1::EvaluateResponse* out, bool explain,
                        std::chrono::milliseconds call_timeout) {
    v1::EvaluateRequest request;
    *request.mutable_event() = event;
    request.set_explain(explain);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + call_timeout);
    return stub_->Evaluate(&ctx, request, out);
  }

  const v1::SinkOutcome* OutcomeOf(const v1::EvaluateResponse& r, const std::string& binding) {
    for (const auto& o : r.outcomes()) {
      if (o.binding() == binding) return &o;
    }
    return nullptr;
  }

  testing::TempDir dir_;
  Server dispatcher_;
  std::unique_ptr<v1::Dispatcher::Stub> stub_;
};

TEST_F(OnErrorTest, SilentWorkerWithTempfailYields451) {
  StartWith({{.name = "silent",
              .sink = Workers::Hanging().address,
              .timeout = "150ms",
              .on_error = "tempfail"}});
  v1::EvaluateResponse r;
  ASSERT_TRUE(Evaluate(RcptEvent("a@example.com", 2000ms), &r, true, 10s).ok());
  EXPECT_EQ(r.verdict().action(), v1::ACTION_TEMPFAIL);
  EXPECT_EQ(r.verdict().reply().code(), 451u);
  EXPECT_EQ(r.decided_by(), "silent");
  const auto* o = OutcomeOf(r, "silent");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->kind(), v1::SINK_OUTCOME_KIND_TIMEOUT);
}

TEST_F(OnErrorTest, SilentWorkerWithContinueFailsOpen) {
  StartWith({{.name = "silent",
              .sink = Workers::Hanging().address,
              .timeout = "150ms",
              .on_error = "continue"}});
  v1::EvaluateResponse r;
  ASSERT_TRUE(Evaluate(RcptEvent("a@example.com", 2000ms), &r, true, 10s).ok());
  EXPECT_NE(r.verdict().action(), v1::ACTION_REJECT);
  EXPECT_NE(r.verdict().action(), v1::ACTION_TEMPFAIL);
  EXPECT_TRUE(r.decided_by().empty());
  const auto* o = OutcomeOf(r, "silent");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->kind(), v1::SINK_OUTCOME_KIND_TIMEOUT);
}

TEST_F(OnErrorTest, SilentWorkerIsCutOffByTheEventBudgetThroughTheSink) {
  // The binding's own timeout (30 s) is far beyond the budget: the budget decides.
  StartWith({{.name = "silent",
              .sink = Workers::Hanging().address,
              .timeout = "30s",
              .on_error = "tempfail"}});
  auto sink = sink::MakeSink(TestSinkOptions(dispatcher_.address));
  const auto e = EvaluateAndWait(*sink, RcptEvent("a@example.com", 1000ms), 1000ms);
  ASSERT_TRUE(e.has_value());
  // Either the dispatcher applied on_error just inside the budget, or the sink's own timer fired
  // first; both are the budget at work, and both come back as a tempfail or the default.
  if (e->source == sink::VerdictSource::kDispatcher) {
    EXPECT_EQ(e->verdict.action(), v1::ACTION_TEMPFAIL);
  } else {
    EXPECT_EQ(e->reason, sink::FallbackReason::kBudgetExceeded);
  }
}

TEST_F(OnErrorTest, FailingWorkerContributesItsOnError) {
  StartWith({{.name = "failing", .sink = Workers::Failing().address, .on_error = "reject"}});
  v1::EvaluateResponse r;
  ASSERT_TRUE(Evaluate(RcptEvent("a@example.com", 2000ms), &r, true, 10s).ok());
  EXPECT_EQ(r.verdict().action(), v1::ACTION_REJECT);
  const auto* o = OutcomeOf(r, "failing");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->kind(), v1::SINK_OUTCOME_KIND_ERROR);
}

TEST_F(OnErrorTest, HighPriorityRejectDoesNotWaitForALowPrioritySilentWorker) {
  // The silent binding may take 30 s and the event may take 30 s, but the call is only allowed
  // 3 s: it can succeed only if the fast worker's reject settles the decision on its own.
  StartWith({{.name = "fast-reject", .sink = Workers::Fast().address, .priority = 0},
             {.name = "silent",
              .sink = Workers::Hanging().address,
              .priority = 32767,
              .timeout = "30s",
              .on_error = "tempfail"}});
  v1::EvaluateResponse r;
  const auto status = Evaluate(RcptEvent("blocked@example.com", 30000ms), &r, false, 3s);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(r.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(r.verdict().reply().code(), 550u);
  EXPECT_EQ(r.decided_by(), "fast-reject");
}

TEST_F(OnErrorTest, SlowWorkerInsideItsTimeoutIsWaitedFor) {
  StartWith({{.name = "fast", .sink = Workers::Fast().address, .priority = 100},
             {.name = "slow", .sink = Workers::Slow().address, .priority = 10}});
  v1::EvaluateResponse r;
  ASSERT_TRUE(Evaluate(RcptEvent("blocked@example.com", 2000ms), &r, false, 10s).ok());
  // Both reject; the higher priority (slow) one must be the one that decided.
  EXPECT_EQ(r.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(r.decided_by(), "slow");
}

}  // namespace
}  // namespace smtpbridge::integration
