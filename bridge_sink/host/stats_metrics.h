// A host server's own counters (the atomics of its stats struct: connections, protocol errors,
// idle and write timeouts, ...) on the metrics endpoint, read when scraped: the hot path keeps
// its plain atomic increments and pays nothing for Prometheus.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace smtpbridge::host {

struct StatMetric {
  std::string name;  // e.g. "smtpbridge_milter_write_timeouts_total"
  std::string help;
  const std::atomic<uint64_t>* value;
  bool gauge = false;  // a level (open connections) rather than a count
};

// `keep_alive` owns the atomics (the server's stats), so a scrape racing the host's shutdown
// never reads freed memory. Exposer::RegisterCollectable holds the result weakly: keep it.
std::shared_ptr<prometheus::Collectable> StatsMetrics(std::shared_ptr<const void> keep_alive,
                                                      std::vector<StatMetric> metrics);

}  // namespace smtpbridge::host
