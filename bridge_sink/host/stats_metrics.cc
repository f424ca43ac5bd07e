#include "host/stats_metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

namespace smtpbridge::host {
namespace {

class Stats final : public prometheus::Collectable {
 public:
  Stats(std::shared_ptr<const void> keep_alive, std::vector<StatMetric> metrics)
      : keep_alive_(std::move(keep_alive)), metrics_(std::move(metrics)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    out.reserve(metrics_.size());
    for (const auto& m : metrics_) {
      prometheus::MetricFamily family;
      family.name = m.name;
      family.help = m.help;
      family.type = m.gauge ? prometheus::MetricType::Gauge : prometheus::MetricType::Counter;
      prometheus::ClientMetric metric;
      const auto value = static_cast<double>(m.value->load(std::memory_order_relaxed));
      if (m.gauge) {
        metric.gauge.value = value;
      } else {
        metric.counter.value = value;
      }
      family.metric.push_back(std::move(metric));
      out.push_back(std::move(family));
    }
    return out;
  }

 private:
  std::shared_ptr<const void> keep_alive_;
  std::vector<StatMetric> metrics_;
};

}  // namespace

std::shared_ptr<prometheus::Collectable> StatsMetrics(std::shared_ptr<const void> keep_alive,
                                                      std::vector<StatMetric> metrics) {
  return std::make_shared<Stats>(std::move(keep_alive), std::move(metrics));
}

}  // namespace smtpbridge::host
