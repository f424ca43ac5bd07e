#include "server/metrics.h"

namespace smtpbridge::dispatcher {
namespace {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  // 100 µs .. 1 s: the floor of two gRPC hops is ~0.2 ms, budgets are tens of ms.
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
}

}  // namespace

Metrics::Metrics(const std::string& listen)
    : registry_(std::make_shared<prometheus::Registry>()),
      events_(prometheus::BuildCounter()
                  .Name("smtpbridge_dispatcher_events_total")
                  .Help("Events evaluated, by event type")
                  .Register(*registry_)),
      decisions_(prometheus::BuildCounter()
                     .Name("smtpbridge_dispatcher_decisions_total")
                     .Help("Merged verdicts returned, by action")
                     .Register(*registry_)),
      outcomes_(prometheus::BuildCounter()
                    .Name("smtpbridge_dispatcher_binding_outcomes_total")
                    .Help("Per-binding outcomes (answered, cached, timeout, error, cancelled)")
                    .Register(*registry_)),
      reloads_(prometheus::BuildCounter()
                   .Name("smtpbridge_dispatcher_reloads_total")
                   .Help("Bindings reloads, by result")
                   .Register(*registry_)),
      hedges_(prometheus::BuildCounter()
                  .Name("smtpbridge_dispatcher_hedges_total")
                  .Help("Second copies of worker calls sent after hedge_after, by binding")
                  .Register(*registry_)),
      invalid_verdicts_(prometheus::BuildCounter()
                            .Name("smtpbridge_dispatcher_invalid_verdicts_total")
                            .Help("Worker verdicts refused by the contract check (the binding's on_error applied), by binding and problem")
                            .Register(*registry_)),
      bindings_(prometheus::BuildGauge()
                    .Name("smtpbridge_dispatcher_bindings")
                    .Help("Bindings in the current set")
                    .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("smtpbridge_dispatcher_evaluate_seconds")
                   .Help("Time from receipt of an event to its answer")
                   .Register(*registry_)
                   .Add({}, LatencyBuckets())) {
  if (!listen.empty()) {
    exposer_ = std::make_unique<prometheus::Exposer>(listen);
    exposer_->RegisterCollectable(registry_);
    host_ = listen.substr(0, listen.rfind(':'));
  }
}

void Metrics::Event(std::string_view event_type) {
  events_.Add({{"event", std::string(event_type)}}).Increment();
}

void Metrics::Decision(std::string_view action, double seconds) {
  decisions_.Add({{"action", std::string(action)}}).Increment();
  latency_.Observe(seconds);
}

void Metrics::Outcome(const std::string& binding, std::string_view kind) {
  outcomes_.Add({{"binding", binding}, {"kind", std::string(kind)}}).Increment();
}

void Metrics::Reload(bool ok, size_t bindings) {
  reloads_.Add({{"result", ok ? "ok" : "error"}}).Increment();
  if (ok) bindings_.Add({}).Set(static_cast<double>(bindings));
}

void Metrics::Hedge(const std::string& binding) {
  hedges_.Add({{"binding", binding}}).Increment();
}

void Metrics::InvalidVerdict(const std::string& binding, std::string_view problem) {
  invalid_verdicts_.Add({{"binding", binding}, {"problem", std::string(problem)}}).Increment();
}

std::string Metrics::address() const {
  if (!exposer_) return {};
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? std::string{} : host_ + ":" + std::to_string(ports.front());
}

}  // namespace smtpbridge::dispatcher
