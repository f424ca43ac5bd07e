#include "server/metrics.h"

#include "dispatch/admission.h"

namespace smtpbridge::dispatcher {
namespace {

// Metric families computed when scraped.
class CallbackCollectable final : public prometheus::Collectable {
 public:
  explicit CallbackCollectable(std::function<std::vector<prometheus::MetricFamily>()> fn)
      : fn_(std::move(fn)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return fn_(); }

 private:
  std::function<std::vector<prometheus::MetricFamily>()> fn_;
};

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  // 100 µs .. 1 s: the floor of two gRPC hops is ~0.2 ms, budgets are tens of ms.
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
}

prometheus::Histogram::BucketBoundaries BatchBuckets() {
  // 1 (nothing was waiting) .. 64 (the cap, server/evaluate_stream.cc).
  return {1, 2, 4, 8, 16, 32, 64};
}

// "a\0b" in a per-thread buffer: the key of a two-label child without an allocation per call.
std::string_view Key2(std::string_view a, std::string_view b) {
  static thread_local std::string key;
  key.assign(a);
  key.push_back('\0');
  key.append(b);
  return key;
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
                            .Help("Worker verdicts refused by the contract check (the binding's "
                                  "on_error applied), by binding and problem")
                            .Register(*registry_)),
      bindings_(prometheus::BuildGauge()
                    .Name("smtpbridge_dispatcher_bindings")
                    .Help("Bindings in the current set")
                    .Register(*registry_)),
      ejections_(prometheus::BuildCounter()
                     .Name("smtpbridge_dispatcher_worker_ejections_total")
                     .Help("Worker endpoints taken out of rotation by outlier detection, by pool")
                     .Register(*registry_)),
      ejected_(prometheus::BuildGauge()
                   .Name("smtpbridge_dispatcher_worker_ejected")
                   .Help("Worker endpoints out of rotation now (ejected or being probed), by pool")
                   .Register(*registry_)),
      endpoints_(prometheus::BuildGauge()
                     .Name("smtpbridge_dispatcher_worker_endpoints")
                     .Help("Endpoints a worker target resolved to, by pool")
                     .Register(*registry_)),
      retries_(prometheus::BuildCounter()
                   .Name("smtpbridge_dispatcher_worker_retries_total")
                   .Help("Worker calls tried again on another endpoint after UNAVAILABLE, by pool")
                   .Register(*registry_)),
      shed_(prometheus::BuildCounter()
                .Name("smtpbridge_dispatcher_shed_total")
                .Help("Events answered at once as shed because a limit was reached, by reason")
                .Register(*registry_)),
      call_latency_(prometheus::BuildHistogram()
                        .Name("smtpbridge_dispatcher_binding_call_seconds")
                        .Help("Worker call time per binding, from the call's start to its outcome "
                              "(answered, timeout or error)")
                        .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("smtpbridge_dispatcher_evaluate_seconds")
                   .Help("Time from receipt of an event to its answer")
                   .Register(*registry_)
                   .Add({}, LatencyBuckets())),
      stream_batch_(prometheus::BuildHistogram()
                        .Name("smtpbridge_dispatcher_stream_batch_events")
                        .Help("Events per EvaluateStream message: requests received, answers sent")
                        .Register(*registry_)),
      stream_batch_received_(stream_batch_.Add({{"direction", "received"}}, BatchBuckets())),
      stream_batch_sent_(stream_batch_.Add({{"direction", "sent"}}, BatchBuckets())) {
  // Known label values start at 0, so rate() and dashboards work before the first shed.
  for (const char* reason : {kShedInFlight, kShedPoolLimit}) shed_.Add({{"reason", reason}});
  if (!listen.empty()) {
    exposer_ = std::make_unique<prometheus::Exposer>(listen);
    exposer_->RegisterCollectable(registry_);
    host_ = listen.substr(0, listen.rfind(':'));
  }
}

void Metrics::Event(std::string_view event_type) {
  event_children_
      .Get(
          event_type,
          [&]() -> auto& {
            return events_.Add({{"event", std::string(event_type)}});
          })
      .Increment();
}

void Metrics::Decision(std::string_view action, double seconds) {
  decision_children_
      .Get(
          action,
          [&]() -> auto& {
            return decisions_.Add({{"action", std::string(action)}});
          })
      .Increment();
  latency_.Observe(seconds);
}

void Metrics::Outcome(const std::string& binding, std::string_view kind) {
  outcome_children_
      .Get(
          Key2(binding, kind),
          [&]() -> auto& {
            return outcomes_.Add({{"binding", binding}, {"kind", std::string(kind)}});
          })
      .Increment();
}

void Metrics::CallLatency(const std::string& binding, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = LatencyBuckets();
  call_latency_children_
      .Get(
          binding,
          [&]() -> auto& {
            return call_latency_.Add({{"binding", binding}}, kBuckets);
          })
      .Observe(seconds);
}

void Metrics::Reload(bool ok, size_t bindings) {
  reloads_.Add({{"result", ok ? "ok" : "error"}}).Increment();
  if (ok) bindings_.Add({}).Set(static_cast<double>(bindings));
}

void Metrics::Hedge(const std::string& binding) { hedges_.Add({{"binding", binding}}).Increment(); }

void Metrics::Ejected(const std::string& pool, size_t out_now) {
  ejections_.Add({{"pool", pool}}).Increment();
  ejected_.Add({{"pool", pool}}).Set(static_cast<double>(out_now));
}

void Metrics::Returned(const std::string& pool, size_t out_now) {
  ejected_.Add({{"pool", pool}}).Set(static_cast<double>(out_now));
}

void Metrics::Endpoints(const std::string& pool, size_t endpoints) {
  endpoints_.Add({{"pool", pool}}).Set(static_cast<double>(endpoints));
  // A known pool's ejection and retry series start at 0 (dashboards show 0, not "no data").
  ejections_.Add({{"pool", pool}});
  ejected_.Add({{"pool", pool}});
  retries_.Add({{"pool", pool}});
}

void Metrics::Retry(const std::string& pool) { retries_.Add({{"pool", pool}}).Increment(); }

void Metrics::Shed(std::string_view reason) {
  shed_children_
      .Get(
          reason,
          [&]() -> auto& {
            return shed_.Add({{"reason", std::string(reason)}});
          })
      .Increment();
}

void Metrics::AddCollector(std::function<std::vector<prometheus::MetricFamily>()> collect) {
  auto collectable = std::make_shared<CallbackCollectable>(std::move(collect));
  collectors_.push_back(collectable);
  if (exposer_) exposer_->RegisterCollectable(collectable);
}

void Metrics::InvalidVerdict(const std::string& binding, std::string_view problem) {
  invalid_verdicts_.Add({{"binding", binding}, {"problem", std::string(problem)}}).Increment();
}

std::string Metrics::address() const {
  if (!exposer_) return {};
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? std::string{} : host_ + ":" + std::to_string(ports.front());
}

namespace {

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Gauge;
  return f;
}

void AddGauge(prometheus::MetricFamily* f, std::vector<prometheus::ClientMetric::Label> labels,
              double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f->metric.push_back(std::move(m));
}

}  // namespace

std::vector<prometheus::MetricFamily> AdmissionGauges(const Admission& admission) {
  auto in_flight =
      GaugeFamily("smtpbridge_dispatcher_in_flight_events", "Events received and not yet answered");
  AddGauge(&in_flight, {}, static_cast<double>(admission.in_flight()));
  auto limit = GaugeFamily("smtpbridge_dispatcher_max_in_flight_events",
                           "Global in-flight limit; events over it are shed (0: unlimited)");
  AddGauge(&limit, {}, static_cast<double>(admission.options().max_in_flight));
  auto pool_in_flight = GaugeFamily("smtpbridge_dispatcher_pool_in_flight",
                                    "Worker calls in flight, by pool (target)");
  auto pool_limit =
      GaugeFamily("smtpbridge_dispatcher_pool_concurrency_limit",
                  "Worker calls allowed in flight, by pool; adaptive when enabled (0: unlimited)");
  for (const auto& p : admission.pools()) {
    AddGauge(&pool_in_flight, {{"pool", p.target}}, static_cast<double>(p.in_flight));
    AddGauge(&pool_limit, {{"pool", p.target}}, static_cast<double>(p.limit));
  }
  return {std::move(in_flight), std::move(limit), std::move(pool_in_flight), std::move(pool_limit)};
}

}  // namespace smtpbridge::dispatcher
