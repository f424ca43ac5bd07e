// The DispatchObserver the server uses: binding stats (Admin API), Prometheus metrics and
// structured logs (one line per non-continue decision; worker errors and timeouts at warn,
// rate-limited so a dead worker pool cannot flood the log).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

#include "dispatch/binding_stats.h"
#include "dispatch/fanout.h"
#include "dispatch/rate_limited_log.h"
#include "server/decision_log.h"
#include "server/metrics.h"
#include "workers/worker_pool.h"

namespace smtpbridge::dispatcher {

class Recorder : public DispatchObserver, public PoolListener {
 public:
  static constexpr int kWarningsPerSecond = 20;

  // `clock` (may be null) times the "N suppressed" line of rate-limited warnings, so it is
  // written when the second ends even if no later warning comes.
  Recorder(BindingStatsRegistry* stats, Metrics* metrics, Clock* clock = nullptr)
      : stats_(stats),
        metrics_(metrics),
        warnings_(clock, "worker warning(s)", kWarningsPerSecond) {}

  void OnOutcome(const EventInfo& event, const v1::Binding& binding,
                 const v1::SinkOutcome& outcome) override;
  void OnDecision(const EventInfo& event, const v1::EvaluateResponse& response) override;
  void OnHedge(const EventInfo& event, const v1::Binding& binding) override;
  void OnInvalidVerdict(const EventInfo& event, const v1::Binding& binding,
                        const VerdictCheck& check) override;

  // Worker pools: outlier ejections (warn), returns (info), endpoints and retries.
  void OnEjected(const std::string& target, const std::string& endpoint,
                 Clock::duration ejected_for, uint32_t times, size_t out_now) override;
  void OnReturned(const std::string& target, const std::string& endpoint, size_t out_now) override;
  void OnEndpoints(const std::string& target, size_t endpoints) override;
  void OnRetry(const std::string& target) override;
  // Decision log lines (server/decision_log.h) for every decision; null: none. Before serving.
  void SetDecisionLog(DecisionLog* log) { decision_log_ = log; }
  bool WantsDecisionDetail() const override { return decision_log_ != nullptr; }
  void OnDecisionDetail(const EventInfo& event, const v1::EvaluateResponse& response,
                        const std::vector<DecisionOutcome>& outcomes) override;

 private:
  bool AllowWarning() { return warnings_.Allow(); }

  BindingStatsRegistry* stats_;
  Metrics* metrics_;
  DecisionLog* decision_log_ = nullptr;
  RateLimitedLog warnings_;
};

}  // namespace smtpbridge::dispatcher
