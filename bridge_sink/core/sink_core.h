// The sink: Evaluate() sends the event to the dispatcher and races the answer against its own
// budget timer; whichever comes first answers, exactly once. Failures, timeouts, the open
// breaker and shutdown answer from the Fallback. Wants()/BodyLimit() read the interests the
// background refresh keeps current.
//
// Built from seams (DispatcherClient, Timers) so the logic runs under simulated time in tests;
// MakeSink() wires the real gRPC client and timer thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/circuit_breaker.h"
#include "core/dispatcher_client.h"
#include "core/fallback.h"
#include "core/fresh_cache.h"
#include "core/interests.h"
#include "core/local_rules.h"
#include "core/sink_metrics.h"
#include "core/stale_cache.h"
#include "core/timers.h"
#include "smtpbridge/sink/sink.h"
#include "smtpbridge/sink/sink_factory.h"

namespace smtpbridge::sink {

class SinkCore final : public Sink {
 public:
  SinkCore(SinkOptions options, std::unique_ptr<DispatcherClient> client,
           std::shared_ptr<Timers> timers, LocalRules rules = {});
  // Shuts down if the owner did not. Never destroy the sink from inside an EvaluationCallback.
  ~SinkCore() override;

  void Evaluate(v1::Event event, std::chrono::microseconds budget,
                EvaluationCallback done) override;
  bool Wants(uint32_t instance, v1::EventType type, std::string_view keyword) const override;
  uint32_t BodyLimit(uint32_t instance) const override;
  void Shutdown() override;

  // Introspection for tests and the C ABI.
  const SinkMetrics& metrics() const { return metrics_; }
  const CircuitBreaker& breaker() const { return breaker_; }
  StaleCache& stale_cache() { return stale_cache_; }
  FreshCache& fresh_cache() { return fresh_cache_; }
  bool interests_known() const { return interests_.known(); }
  // Dispatcher calls whose callback has not run yet (answered or not).
  std::size_t in_flight() const;

 private:
  struct Pending;

  void OnBudgetExpired(const std::shared_ptr<Pending>& p);
  void OnAnswer(const std::shared_ptr<Pending>& p, const grpc::Status& status,
                v1::EvaluateResponse response);
  // Claims `p` for this answer; false when someone else answered it already.
  bool Claim(const std::shared_ptr<Pending>& p);
  void CancelCall(const std::shared_ptr<Pending>& p);
  Evaluation FallbackFor(const std::shared_ptr<Pending>& p, FallbackReason reason, SteadyTime now);
  void Record(const Pending& p, const Evaluation& e);
  // A dispatcher call's callback ran (id 0: the interests call).
  void RpcFinished(uint64_t id);

  // The breaker opened: probe as soon as the client says the dispatcher is reachable again.
  void WatchForRecovery();

  void RefreshInterests();
  void OnInterests(const grpc::Status& status, const v1::GetInterestsResponse& response);

  const SinkOptions options_;
  const std::shared_ptr<Timers> timers_;
  std::unique_ptr<DispatcherClient> client_;
  SinkMetrics metrics_;
  CircuitBreaker breaker_;
  FreshCache fresh_cache_;
  StaleCache stale_cache_;
  Fallback fallback_;
  Interests interests_;
  // Bindings generation of the last interests answer (OnInterests only): a new one means the
  // dispatcher's bindings changed, so fresh verdicts may no longer be what it would say.
  std::optional<uint64_t> bindings_generation_;

  // What the client's ready callback reaches; cleared (under its lock) by Shutdown(), so a
  // callback running on the client's thread never touches a sink being destroyed.
  struct ReadyHook {
    std::mutex mu;
    SinkCore* core = nullptr;
  };
  const std::shared_ptr<ReadyHook> ready_hook_ = std::make_shared<ReadyHook>();

  std::atomic<bool> stopped_{false};
  std::mutex shutdown_mu_;  // serializes Shutdown()

  mutable std::mutex mu_;
  std::condition_variable rpcs_done_;
  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, std::shared_ptr<Pending>> in_flight_;
  int outstanding_rpcs_ = 0;  // dispatcher calls whose callback has not run yet
  std::shared_ptr<DispatcherClient::Call> interests_call_;
};

}  // namespace smtpbridge::sink
