// Prometheus metrics (prometheus-cpp pull exposer on --metrics-listen), declared once here.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace smtpbridge::dispatcher {

class Admission;

class Metrics {
 public:
  // Registers every metric; serves them on `listen` ("127.0.0.1:9464") when not empty.
  // Throws std::exception when the exposer cannot bind.
  explicit Metrics(const std::string& listen);

  void Event(std::string_view event_type);
  void Decision(std::string_view action, double seconds);
  void Outcome(const std::string& binding, std::string_view kind);
  // How long one binding's worker call took, from its start to its outcome (per binding).
  void CallLatency(const std::string& binding, double seconds);
  void Reload(bool ok, size_t bindings);
  void Hedge(const std::string& binding);
  // Worker pools (by target): an endpoint ejected / back in rotation (with how many are out
  // now), how many endpoints the target resolved to, a call retried on another endpoint.
  void Ejected(const std::string& pool, size_t out_now);
  void Returned(const std::string& pool, size_t out_now);
  void Endpoints(const std::string& pool, size_t endpoints);
  void Retry(const std::string& pool);
  // An event answered as shed (over a limit), by reason (in_flight, pool_limit).
  void Shed(std::string_view reason);
  // Gauges read when scraped (in flight now, limits): `collect` builds their families.
  void AddCollector(std::function<std::vector<prometheus::MetricFamily>()> collect);
  // A worker verdict refused by the contract check, by binding and problem ("reply_class", ...).
  void InvalidVerdict(const std::string& binding, std::string_view problem);
  // Events per EvaluateStream message: requests in one read, answers in one write.
  void StreamBatchReceived(size_t events) {
    stream_batch_received_.Observe(static_cast<double>(events));
  }
  void StreamBatchSent(size_t events) { stream_batch_sent_.Observe(static_cast<double>(events)); }
  // "host:port" the exposer listens on (the real port when 0 was asked for).
  std::string address() const;

  prometheus::Registry& registry() { return *registry_; }

 private:
  // A family's children by a flat key of their label values. Family::Add builds a label map and a
  // whole new child (a histogram: its bucket vectors) on every call before it finds the existing
  // one; the per-event metrics find theirs here instead. Children are never removed from a family,
  // so the pointers stay valid.
  template <typename T>
  class Children {
   public:
    template <typename Make>
    T& Get(std::string_view key, Make&& make) {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = map_.find(key); it != map_.end()) return *it->second;
      T& child = make();
      map_.emplace(std::string(key), &child);
      return child;
    }

   private:
    struct Hash {
      using is_transparent = void;
      size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::mutex mu_;
    std::unordered_map<std::string, T*, Hash, std::equal_to<>> map_;
  };

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
  prometheus::Family<prometheus::Counter>& ejections_;
  prometheus::Family<prometheus::Gauge>& ejected_;
  prometheus::Family<prometheus::Gauge>& endpoints_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& shed_;
  prometheus::Family<prometheus::Histogram>& call_latency_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectors_;
  prometheus::Histogram& latency_;
  prometheus::Family<prometheus::Histogram>& stream_batch_;
  prometheus::Histogram& stream_batch_received_;
  prometheus::Histogram& stream_batch_sent_;
  Children<prometheus::Counter> event_children_;
  Children<prometheus::Counter> decision_children_;
  Children<prometheus::Counter> outcome_children_;
  Children<prometheus::Histogram> call_latency_children_;
  Children<prometheus::Counter> shed_children_;
};

// The admission gauges, read when scraped: events in flight and their limit, and per pool calls
// in flight and the concurrency limit (0: unlimited).
std::vector<prometheus::MetricFamily> AdmissionGauges(const Admission& admission);

}  // namespace smtpbridge::dispatcher
