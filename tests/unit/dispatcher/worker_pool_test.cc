// Worker pools with simulated time and no network: target parsing, outlier ejection (growing
// intervals, maximum share, probing back in), endpoint choice, re-resolution and dropping the
// pools a reload no longer names.
#include "workers/worker_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "fakes.h"
#include "workers/channel_pool.h"
#include "workers/grpc_sink_client.h"
#include "workers/outlier_detector.h"

namespace smtpbridge::dispatcher {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::FakeClock;

TEST(WorkerTarget, StaticListsBecomeOneEndpointEach) {
  auto t = ParseWorkerTarget("ipv4:10.0.0.1:50051,10.0.0.2:50052");
  EXPECT_EQ(t.kind, WorkerTarget::Kind::kStatic);
  EXPECT_THAT(t.endpoints, ElementsAre("ipv4:10.0.0.1:50051", "ipv4:10.0.0.2:50052"));
  t = ParseWorkerTarget("ipv6:[::1]:5,[fd00::2]:6");
  EXPECT_THAT(t.endpoints, ElementsAre("ipv6:[::1]:5", "ipv6:[fd00::2]:6"));
  t = ParseWorkerTarget("unix:/run/w.sock");
  EXPECT_EQ(t.kind, WorkerTarget::Kind::kStatic);
  EXPECT_THAT(t.endpoints, ElementsAre("unix:/run/w.sock"));
}

TEST(WorkerTarget, DnsNamesAndHostPortAreResolved) {
  auto t = ParseWorkerTarget("dns:///policy.mail.svc:50051");
  EXPECT_EQ(t.kind, WorkerTarget::Kind::kDns);
  EXPECT_EQ(t.host, "policy.mail.svc");
  EXPECT_EQ(t.port, "50051");
  t = ParseWorkerTarget("127.0.0.1:7000");
  EXPECT_EQ(t.kind, WorkerTarget::Kind::kDns);
  EXPECT_EQ(t.host, "127.0.0.1");
  t = ParseWorkerTarget("[::1]:7000");
  EXPECT_EQ(t.kind, WorkerTarget::Kind::kDns);
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.port, "7000");
}

TEST(WorkerTarget, WhatWeCannotResolveStaysOneOpaqueEndpoint) {
  for (const std::string target : {"dns://127.0.0.1:53/policy:50051", "xds:///policy", "ipv4:"}) {
    const auto t = ParseWorkerTarget(target);
    EXPECT_EQ(t.kind, WorkerTarget::Kind::kOpaque) << target;
    EXPECT_THAT(t.endpoints, ElementsAre(target));
  }
}

TEST(WorkerTarget, ResolvesNumericHostsWithGetaddrinfo) {
  std::string error;
  EXPECT_THAT(ResolveHostPort("127.0.0.1", "50051", &error), ElementsAre("ipv4:127.0.0.1:50051"));
  EXPECT_THAT(ResolveHostPort("::1", "7", &error), ElementsAre("ipv6:[::1]:7"));
  EXPECT_TRUE(ResolveHostPort("no-such-host.invalid", "1", &error).empty());
  EXPECT_FALSE(error.empty());
}

class OutlierTest : public ::testing::Test {
 protected:
  OutlierDetector detector_{OutlierOptions{3, 1000ms, 2500ms, 50}};
  Clock::TimePoint now_ = Clock::TimePoint{} + 1h;

  void Fail(OutlierState& s, int times, size_t out = 0, size_t total = 4) {
    for (int i = 0; i < times; ++i)
      detector_.OnResult(s, CallResult::kFailure, false, now_, out, total);
  }
};

TEST_F(OutlierTest, ConsecutiveFailuresEjectAndASuccessResetsTheCount) {
  OutlierState s;
  Fail(s, 2);
  detector_.OnResult(s, CallResult::kSuccess, false, now_, 0, 4);
  Fail(s, 2);
  EXPECT_FALSE(s.out());
  EXPECT_EQ(detector_.OnResult(s, CallResult::kFailure, false, now_, 0, 4),
            OutlierDetector::Change::kEjected);
  EXPECT_TRUE(s.out());
  EXPECT_FALSE(detector_.Eligible(s, now_ + 999ms));
}

TEST_F(OutlierTest, CancelledCallsSayNothing) {
  OutlierState s;
  Fail(s, 2);
  for (int i = 0; i < 10; ++i) detector_.OnResult(s, CallResult::kNeutral, false, now_, 0, 4);
  EXPECT_EQ(s.consecutive_failures, 2u);
  EXPECT_FALSE(s.out());
}

TEST_F(OutlierTest, ProbedBackInAfterTheIntervalOneCallAtATime) {
  OutlierState s;
  Fail(s, 3);
  ASSERT_TRUE(s.out());
  now_ += 1000ms;
  bool probing = false;
  EXPECT_TRUE(detector_.Eligible(s, now_, &probing));
  EXPECT_TRUE(probing);
  EXPECT_TRUE(detector_.OnPicked(s));         // the probe
  EXPECT_FALSE(detector_.Eligible(s, now_));  // nothing else while it is out
  // A call sent before the ejection ends now: it decides nothing.
  EXPECT_EQ(detector_.OnResult(s, CallResult::kSuccess, false, now_, 1, 4),
            OutlierDetector::Change::kNone);
  EXPECT_EQ(detector_.OnResult(s, CallResult::kSuccess, true, now_, 1, 4),
            OutlierDetector::Change::kReturned);
  EXPECT_FALSE(s.out());
  EXPECT_TRUE(detector_.Eligible(s, now_));
}

TEST_F(OutlierTest, AFailedProbeEjectsAgainForLongerUpToTheMaximum) {
  OutlierState s;
  Fail(s, 3);
  EXPECT_EQ(s.ejected_until - now_, 1000ms);
  for (const auto expected : {2000ms, 2500ms, 2500ms}) {
    now_ = s.ejected_until;
    ASSERT_TRUE(detector_.Eligible(s, now_));
    ASSERT_TRUE(detector_.OnPicked(s));
    EXPECT_EQ(detector_.OnResult(s, CallResult::kFailure, true, now_, 1, 4),
              OutlierDetector::Change::kEjected);
    EXPECT_EQ(s.ejected_until - now_, expected);
  }
}

TEST_F(OutlierTest, ANeutralProbeLetsTheNextCallProbe) {
  OutlierState s;
  Fail(s, 3);
  now_ += 1s;
  ASSERT_TRUE(detector_.Eligible(s, now_));
  ASSERT_TRUE(detector_.OnPicked(s));
  detector_.OnResult(s, CallResult::kNeutral, true, now_, 1, 4);
  EXPECT_TRUE(detector_.Eligible(s, now_));
  EXPECT_TRUE(detector_.OnPicked(s));
}

TEST_F(OutlierTest, NeverEjectsMoreThanTheShareAndNeverAll) {
  EXPECT_EQ(detector_.MaxOut(1), 0u);
  EXPECT_EQ(detector_.MaxOut(2), 1u);
  EXPECT_EQ(detector_.MaxOut(3), 1u);
  EXPECT_EQ(detector_.MaxOut(10), 5u);
  OutlierDetector all{OutlierOptions{3, 1s, 10s, 100}};
  EXPECT_EQ(all.MaxOut(4), 3u);
  OutlierState s;
  Fail(s, 5, /*out=*/1, /*total=*/2);
  EXPECT_FALSE(s.out());
  Fail(s, 1, /*out=*/0, /*total=*/2);  // the other one came back: now it may go
  EXPECT_TRUE(s.out());
}

TEST_F(OutlierTest, HealthyLongerThanTheMaximumStartsOverAtTheBase) {
  OutlierState s;
  Fail(s, 3);
  now_ = s.ejected_until;
  detector_.Eligible(s, now_);
  detector_.OnPicked(s);
  detector_.OnResult(s, CallResult::kSuccess, true, now_, 1, 4);
  now_ += 10s;
  Fail(s, 3);
  EXPECT_EQ(s.ejected_until - now_, 1000ms);
}

// A pool over fake endpoints (no channels): what Choose/Done do.
class WorkerPoolTest : public ::testing::Test {
 protected:
  std::unique_ptr<WorkerPool> Pool(const std::string& target, Resolver resolver = nullptr) {
    PoolOptions options;
    options.outlier = OutlierOptions{3, 1000ms, 30s, 50};
    return std::make_unique<WorkerPool>(target, &clock_, options, nullptr, std::move(resolver),
                                        &listener_);
  }

  struct Listener : PoolListener {
    void OnEjected(const std::string&, const std::string& endpoint, Clock::duration, uint32_t,
                   size_t) override {
      ejected.push_back(endpoint);
    }
    void OnReturned(const std::string&, const std::string& endpoint, size_t) override {
      returned.push_back(endpoint);
    }
    void OnEndpoints(const std::string&, size_t n) override { endpoints = n; }
    void OnRetry(const std::string&) override { ++retries; }
    std::vector<std::string> ejected, returned;
    size_t endpoints = 0;
    int retries = 0;
  };

  // Runs `n` calls one after another, each answered with `result_for(endpoint)`; returns how
  // many went to each endpoint.
  std::map<std::string, int> Run(WorkerPool& pool, int n,
                                 const std::function<CallResult(const std::string&)>& result_for) {
    std::map<std::string, int> count;
    for (int i = 0; i < n; ++i) {
      auto pick = pool.Choose();
      EXPECT_TRUE(pick);
      if (!pick) break;
      ++count[pick.endpoint->address];
      pool.Done(pick, result_for(pick.endpoint->address));
    }
    return count;
  }

  FakeClock clock_;
  Listener listener_;
};

constexpr const char* kTwo = "ipv4:127.0.0.1:1,127.0.0.1:2";
constexpr const char* kA = "ipv4:127.0.0.1:1";
constexpr const char* kB = "ipv4:127.0.0.1:2";

TEST_F(WorkerPoolTest, SpreadsOverEveryEndpoint) {
  auto pool = Pool(kTwo);
  EXPECT_EQ(listener_.endpoints, 2u);
  auto count = Run(*pool, 200, [](const std::string&) { return CallResult::kSuccess; });
  EXPECT_GT(count[kA], 50);
  EXPECT_GT(count[kB], 50);
}

TEST_F(WorkerPoolTest, PrefersTheEndpointWithFewerCallsOutstanding) {
  auto pool = Pool(kTwo);
  // Calls to one endpoint hang (never Done): with two endpoints, both are always compared.
  std::vector<WorkerPool::Pick> hanging;
  auto first = pool->Choose();
  const std::string stuck = first.endpoint->address;
  hanging.push_back(first);
  for (int i = 0; i < 20; ++i) {
    auto pick = pool->Choose();
    EXPECT_NE(pick.endpoint->address, stuck);
    pool->Done(pick, CallResult::kSuccess);
  }
  pool->Done(first, CallResult::kNeutral);
}

TEST_F(WorkerPoolTest, AFailingEndpointIsEjectedThenProbedBackIn) {
  auto pool = Pool(kTwo);
  bool sick = true;
  auto result = [&](const std::string& e) {
    return e == kB && sick ? CallResult::kFailure : CallResult::kSuccess;
  };
  Run(*pool, 50, result);
  EXPECT_THAT(listener_.ejected, ElementsAre(kB));
  EXPECT_EQ(pool->out_count(), 1u);
  EXPECT_EQ(pool->ejections(), 1u);
  // While ejected, everything goes to A.
  auto count = Run(*pool, 100, result);
  EXPECT_EQ(count[kB], 0);
  // After the interval one probe fails: out again, for twice as long.
  clock_.Advance(1000ms);
  count = Run(*pool, 100, result);
  EXPECT_EQ(count[kB], 1);
  EXPECT_THAT(listener_.ejected, ElementsAre(kB, kB));
  clock_.Advance(1999ms);
  EXPECT_EQ(Run(*pool, 100, result)[kB], 0);
  // It recovers: the next probe brings it back, and it takes its share again.
  sick = false;
  clock_.Advance(1ms);
  count = Run(*pool, 200, result);
  EXPECT_THAT(listener_.returned, ElementsAre(kB));
  EXPECT_EQ(pool->out_count(), 0u);
  EXPECT_GT(count[kB], 50);
}

TEST_F(WorkerPoolTest, NeverEjectsTheLastEndpoints) {
  auto pool = Pool(kTwo);
  auto count = Run(*pool, 100, [](const std::string&) { return CallResult::kFailure; });
  EXPECT_EQ(listener_.ejected.size(), 1u);  // one of two, never both
  EXPECT_EQ(pool->out_count(), 1u);
  auto single = Pool("ipv4:127.0.0.1:9");
  Run(*single, 50, [](const std::string&) { return CallResult::kFailure; });
  EXPECT_EQ(single->out_count(), 0u);
  EXPECT_TRUE(single->Choose());
}

TEST_F(WorkerPoolTest, ChooseAvoidsTheEndpointARetryLeft) {
  auto pool = Pool(kTwo);
  for (int i = 0; i < 20; ++i) {
    auto first = pool->Choose();
    auto other = pool->Choose(first.endpoint.get());
    ASSERT_TRUE(other);
    EXPECT_NE(other.endpoint, first.endpoint);
    pool->Done(first, CallResult::kFailure);
    pool->Done(other, CallResult::kSuccess);
  }
  auto single = Pool("ipv4:127.0.0.1:9");
  auto only = single->Choose();
  EXPECT_FALSE(single->Choose(only.endpoint.get()));
}

TEST_F(WorkerPoolTest, RetryBudgetStopsRetriesWhenMostCallsFail) {
  auto pool = Pool(kTwo);
  int allowed = 0;
  for (int i = 0; i < 200; ++i) {
    auto pick = pool->Choose();
    pool->Done(pick, CallResult::kFailure);
    if (pool->TryRetry()) ++allowed;
  }
  EXPECT_GT(allowed, 10);
  EXPECT_LT(allowed, 100);
  EXPECT_EQ(listener_.retries, allowed);
}

TEST_F(WorkerPoolTest, DnsTargetsAdoptWhatTheResolverSaysNow) {
  std::vector<std::string> answer{"ipv4:10.0.0.1:5"};
  auto pool = Pool("dns:///policy:5",
                   [&](const std::string& host, const std::string& port, std::string* error) {
                     EXPECT_EQ(host, "policy");
                     EXPECT_EQ(port, "5");
                     if (answer.empty()) *error = "NXDOMAIN";
                     return answer;
                   });
  EXPECT_EQ(pool->endpoint_count(), 0u);
  EXPECT_FALSE(pool->Choose());
  EXPECT_TRUE(pool->refresh_wanted());
  ASSERT_TRUE(pool->Refresh());
  EXPECT_FALSE(pool->refresh_wanted());
  EXPECT_THAT(pool->addresses(), ElementsAre("ipv4:10.0.0.1:5"));
  // A new replica appears; an old one goes. A call still on the old one ends harmlessly.
  auto on_old = pool->Choose();
  answer = {"ipv4:10.0.0.2:5", "ipv4:10.0.0.3:5"};
  ASSERT_TRUE(pool->Refresh());
  EXPECT_THAT(pool->addresses(), ElementsAre("ipv4:10.0.0.2:5", "ipv4:10.0.0.3:5"));
  EXPECT_EQ(listener_.endpoints, 2u);
  pool->Done(on_old, CallResult::kFailure);
  // A failed resolution keeps what we had.
  answer.clear();
  std::string error;
  EXPECT_FALSE(pool->Refresh(&error));
  EXPECT_EQ(error, "NXDOMAIN");
  EXPECT_EQ(pool->endpoint_count(), 2u);
}

TEST_F(WorkerPoolTest, EveryEndpointFailingInARowAsksForResolution) {
  auto pool = Pool("dns:///policy:5", [](const std::string&, const std::string&, std::string*) {
    return std::vector<std::string>{"ipv4:10.0.0.1:5", "ipv4:10.0.0.2:5"};
  });
  ASSERT_TRUE(pool->Refresh());
  Run(*pool, 3, [](const std::string&) { return CallResult::kFailure; });
  EXPECT_FALSE(pool->refresh_wanted());
  Run(*pool, 1, [](const std::string&) { return CallResult::kFailure; });
  EXPECT_TRUE(pool->refresh_wanted());
}

TEST(ChannelPoolTest, RetainDropsThePoolsOfRemovedTargets) {
  FakeClock clock;
  ChannelPool pools(&clock, {}, nullptr, nullptr);
  auto a = pools.Get(kA);
  pools.Get(kB);
  EXPECT_EQ(pools.size(), 2u);
  EXPECT_EQ(pools.Get(kA), a);
  pools.Retain({kA});
  EXPECT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools.Get(kA), a);
}

TEST(ChannelPoolTest, RefreshAllResolvesDnsPools) {
  FakeClock clock;
  int resolved = 0;
  ChannelPool pools(&clock, {}, nullptr, nullptr,
                    [&](const std::string&, const std::string&, std::string*) {
                      ++resolved;
                      return std::vector<std::string>{"ipv4:10.0.0.1:5"};
                    });
  auto pool = pools.Get("dns:///policy:5");
  pools.Get(kA);
  pools.RefreshAll();
  EXPECT_EQ(resolved, 1);
  EXPECT_EQ(pool->endpoint_count(), 1u);
}

TEST(ClassifyCallTest, TimeoutsFailCancelsBeforeTheDeadlineDoNot) {
  const auto deadline = Clock::TimePoint{} + 1h;
  EXPECT_EQ(ClassifyCall(grpc::Status::OK, deadline - 1s, deadline), CallResult::kSuccess);
  EXPECT_EQ(ClassifyCall(grpc::Status(grpc::StatusCode::UNAVAILABLE, ""), deadline - 1s, deadline),
            CallResult::kFailure);
  EXPECT_EQ(ClassifyCall(grpc::Status(grpc::StatusCode::CANCELLED, ""), deadline - 1s, deadline),
            CallResult::kNeutral);
  EXPECT_EQ(ClassifyCall(grpc::Status(grpc::StatusCode::CANCELLED, ""), deadline, deadline),
            CallResult::kFailure);
  EXPECT_EQ(ClassifyCall(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, ""), deadline, deadline),
            CallResult::kFailure);
}

}  // namespace
}  // namespace smtpbridge::dispatcher
