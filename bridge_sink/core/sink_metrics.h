// The sink's Prometheus metrics, declared once. Every fallback branch has a counter.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <memory>

#include "core/circuit_breaker.h"
#include "smtpbridge/sink/sink.h"

namespace smtpbridge::sink {

class SinkMetrics {
 public:
  explicit SinkMetrics(std::shared_ptr<prometheus::Registry> registry);

  // One evaluation answered (by the dispatcher or a fallback source), with its latency.
  void Answered(VerdictSource source, FallbackReason reason, std::chrono::nanoseconds latency);
  void LateAnswer() { late_answers_->Increment(); }
  void BreakerChanged(CircuitBreaker::State to);
  void InterestsRefreshed(bool ok) { (ok ? interests_ok_ : interests_failed_)->Increment(); }

  double evaluations(VerdictSource source) const;
  double fallbacks(FallbackReason reason) const;
  double late_answers() const { return late_answers_->Value(); }
  double breaker_opened() const { return breaker_to_[1]->Value(); }
  double interests_refreshes(bool ok) const {
    return (ok ? interests_ok_ : interests_failed_)->Value();
  }

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::array<prometheus::Counter*, 5> by_source_{};
  std::array<prometheus::Counter*, 7> by_reason_{};
  std::array<prometheus::Histogram*, 5> latency_{};
  prometheus::Counter* late_answers_ = nullptr;
  std::array<prometheus::Counter*, 3> breaker_to_{};
  prometheus::Gauge* breaker_open_ = nullptr;
  prometheus::Counter* interests_ok_ = nullptr;
  prometheus::Counter* interests_failed_ = nullptr;
};

}  // namespace smtpbridge::sink
