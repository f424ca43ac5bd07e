// The DispatchObserver the server uses: binding stats (Admin API), Prometheus metrics and
// structured logs (one line per non-continue decision; worker errors and timeouts at warn,
// rate-limited so a dead worker pool cannot flood the log).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

#include "dispatch/binding_stats.h"
#include "dispatch/fanout.h"
#include "server/decision_log.h"
#include "server/metrics.h"

namespace smtpbridge::dispatcher {

class Recorder : public DispatchObserver {
 public:
  static constexpr int kWarningsPerSecond = 20;

  Recorder(BindingStatsRegistry* stats, Metrics* metrics) : stats_(stats), metrics_(metrics) {}

  void OnOutcome(const EventInfo& event, const v1::Binding& binding,
                 const v1::SinkOutcome& outcome) override;
  void OnDecision(const EventInfo& event, const v1::EvaluateResponse& response) override;
  void OnHedge(const EventInfo& event, const v1::Binding& binding) override;
  void OnInvalidVerdict(const EventInfo& event, const v1::Binding& binding,
                        const VerdictCheck& check) override;

  // Decision log lines (server/decision_log.h) for every decision; null: none. Before serving.
  void SetDecisionLog(DecisionLog* log) { decision_log_ = log; }
  bool WantsDecisionDetail() const override { return decision_log_ != nullptr; }
  void OnDecisionDetail(const EventInfo& event, const v1::EvaluateResponse& response,
                        const std::vector<DecisionOutcome>& outcomes) override;

 private:
  bool AllowWarning();

  BindingStatsRegistry* stats_;
  Metrics* metrics_;
  DecisionLog* decision_log_ = nullptr;
  std::mutex warn_mu_;
  std::chrono::steady_clock::time_point warn_window_{};
  int warnings_in_window_ = 0;
  uint64_t suppressed_ = 0;
};

std::string_view OutcomeKindName(v1::SinkOutcomeKind kind);

}  // namespace smtpbridge::dispatcher
