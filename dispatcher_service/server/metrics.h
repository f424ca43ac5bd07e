// Prometheus metrics (prometheus-cpp pull exposer on --metrics-listen), declared once here.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>

namespace smtpbridge::dispatcher {

class Metrics {
 public:
  // Registers every metric; serves them on `listen` ("127.0.0.1:9464") when not empty.
  // Throws std::exception when the exposer cannot bind.
  explicit Metrics(const std::string& listen);

  void Event(std::string_view event_type);
  void Decision(std::string_view action, double seconds);
  void Outcome(const std::string& binding, std::string_view kind);
  void Reload(bool ok, size_t bindings);
  void Hedge(const std::string& binding);
  // A worker verdict refused by the contract check, by binding and problem ("reply_class", ...).
  void InvalidVerdict(const std::string& binding, std::string_view problem);
  // "host:port" the exposer listens on (the real port when 0 was asked for).
  std::string address() const;

  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string host_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& decisions_;
  prometheus::Family<prometheus::Counter>& outcomes_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Family<prometheus::Counter>& hedges_;
  prometheus::Family<prometheus::Counter>& invalid_verdicts_;
  prometheus::Family<prometheus::Gauge>& bindings_;
  prometheus::Histogram& latency_;
};

}  // namespace smtpbridge::dispatcher
