// Live per-binding statistics for Admin.GetBindingStats: counters by outcome and verdict, and
// worker latency percentiles over a recent window. Survives reloads (keyed by binding name).
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "smtpbridge/v1/admin.pb.h"
#include "smtpbridge/v1/dispatcher.pb.h"

namespace smtpbridge::dispatcher {

class BindingStatsRegistry {
 public:
  static constexpr size_t kLatencyWindow = 1024;

  void Record(const std::string& binding, const v1::SinkOutcome& outcome);
  // One binding (`name`) or all when empty; sorted by name.
  std::vector<v1::BindingStats> Snapshot(const std::string& name = {}) const;

 private:
  struct Entry {
    mutable std::mutex mu;
    v1::BindingStats counters;  // latency fields filled on Snapshot
    std::array<int64_t, kLatencyWindow> latencies_ns{};
    size_t latency_count = 0;  // total recorded; the window holds the last kLatencyWindow
  };
  Entry& Get(const std::string& name);

  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

}  // namespace smtpbridge::dispatcher
