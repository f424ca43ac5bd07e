#include "core/sink_metrics.h"

#include <string>

namespace smtpbridge::sink {

SinkMetrics::SinkMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(registry ? std::move(registry) : std::make_shared<prometheus::Registry>()) {
  auto& evaluations = prometheus::BuildCounter()
                          .Name("smtpbridge_sink_evaluations_total")
                          .Help("Events answered by the sink, by where the verdict came from")
                          .Register(*registry_);
  auto& latency = prometheus::BuildHistogram()
                      .Name("smtpbridge_sink_evaluation_seconds")
                      .Help("Time from Evaluate() to the answer, by verdict source")
                      .Register(*registry_);
  const prometheus::Histogram::BucketBoundaries buckets{
      50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 500e-3, 1.0};
  for (VerdictSource s :
       {VerdictSource::kDispatcher, VerdictSource::kDefault, VerdictSource::kStaleCache,
        VerdictSource::kLocalRules, VerdictSource::kCache}) {
    const std::string name(VerdictSourceName(s));
    by_source_[static_cast<int>(s)] = &evaluations.Add({{"source", name}});
    latency_[static_cast<int>(s)] = &latency.Add({{"source", name}}, buckets);
  }
  auto& fallbacks = prometheus::BuildCounter()
                        .Name("smtpbridge_sink_fallbacks_total")
                        .Help("Events the sink answered from its local fallback, by reason")
                        .Register(*registry_);
  for (FallbackReason r :
       {FallbackReason::kNone, FallbackReason::kBudgetExceeded, FallbackReason::kUnavailable,
        FallbackReason::kError, FallbackReason::kCircuitOpen, FallbackReason::kShutdown,
        FallbackReason::kShed}) {
    by_reason_[static_cast<int>(r)] =
        &fallbacks.Add({{"reason", std::string(FallbackReasonName(r))}});
  }
  late_answers_ = &prometheus::BuildCounter()
                       .Name("smtpbridge_sink_late_answers_total")
                       .Help("Dispatcher answers that arrived after the fallback had answered")
                       .Register(*registry_)
                       .Add({});
  auto& transitions = prometheus::BuildCounter()
                          .Name("smtpbridge_sink_breaker_transitions_total")
                          .Help("Circuit breaker state changes, by the state entered")
                          .Register(*registry_);
  for (auto s : {CircuitBreaker::State::kClosed, CircuitBreaker::State::kOpen,
                 CircuitBreaker::State::kHalfOpen}) {
    breaker_to_[static_cast<int>(s)] = &transitions.Add({{"to", std::string(BreakerStateName(s))}});
  }
  breaker_open_ = &prometheus::BuildGauge()
                       .Name("smtpbridge_sink_breaker_open")
                       .Help("1 while the circuit breaker keeps events away from the dispatcher")
                       .Register(*registry_)
                       .Add({});
  auto& refreshes = prometheus::BuildCounter()
                        .Name("smtpbridge_sink_interests_refreshes_total")
                        .Help("Dispatcher.GetInterests calls, by result")
                        .Register(*registry_);
  interests_ok_ = &refreshes.Add({{"result", "ok"}});
  interests_failed_ = &refreshes.Add({{"result", "error"}});
}

void SinkMetrics::Answered(VerdictSource source, FallbackReason reason,
                           std::chrono::nanoseconds latency) {
  by_source_[static_cast<int>(source)]->Increment();
  if (reason != FallbackReason::kNone) by_reason_[static_cast<int>(reason)]->Increment();
  latency_[static_cast<int>(source)]->Observe(std::chrono::duration<double>(latency).count());
}

void SinkMetrics::BreakerChanged(CircuitBreaker::State to) {
  breaker_to_[static_cast<int>(to)]->Increment();
  breaker_open_->Set(to == CircuitBreaker::State::kClosed ? 0 : 1);
}

double SinkMetrics::evaluations(VerdictSource source) const {
  return by_source_[static_cast<int>(source)]->Value();
}

double SinkMetrics::fallbacks(FallbackReason reason) const {
  return by_reason_[static_cast<int>(reason)]->Value();
}

}  // namespace smtpbridge::sink
