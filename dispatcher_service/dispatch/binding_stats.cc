#include "dispatch/binding_stats.h"

#include <algorithm>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {

BindingStatsRegistry::Entry& BindingStatsRegistry::Get(const std::string& name) {
  {
    std::shared_lock lock(mu_);
    if (const auto it = entries_.find(name); it != entries_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& entry = entries_[name];
  if (!entry) {
    entry = std::make_unique<Entry>();
    entry->counters.set_name(name);
  }
  return *entry;
}

void BindingStatsRegistry::Record(const std::string& binding, const v1::SinkOutcome& outcome) {
  Entry& e = Get(binding);
  std::lock_guard lock(e.mu);
  auto& c = e.counters;
  c.set_matched(c.matched() + 1);
  switch (outcome.kind()) {
    case v1::SINK_OUTCOME_KIND_ANSWERED:
      c.set_answered(c.answered() + 1);
      break;
    case v1::SINK_OUTCOME_KIND_CACHED:
      c.set_cached(c.cached() + 1);
      break;
    case v1::SINK_OUTCOME_KIND_TIMEOUT:
      c.set_timeouts(c.timeouts() + 1);
      break;
    case v1::SINK_OUTCOME_KIND_ERROR:
      c.set_errors(c.errors() + 1);
      break;
    case v1::SINK_OUTCOME_KIND_CANCELLED:
      c.set_cancelled(c.cancelled() + 1);
      break;
    default:
      break;
  }
  if (outcome.kind() != v1::SINK_OUTCOME_KIND_CANCELLED &&
      outcome.kind() != v1::SINK_OUTCOME_KIND_UNSPECIFIED) {
    (*c.mutable_verdicts())[std::string(v1::ActionName(outcome.verdict().action()))] += 1;
  }
  if (outcome.kind() == v1::SINK_OUTCOME_KIND_ANSWERED) {
    e.latencies_ns[e.latency_count % kLatencyWindow] =
        v1::FromProtoDuration(outcome.latency()).count();
    ++e.latency_count;
  }
}

std::vector<v1::BindingStats> BindingStatsRegistry::Snapshot(const std::string& name) const {
  std::vector<v1::BindingStats> out;
  std::shared_lock lock(mu_);
  for (const auto& [n, entry] : entries_) {
    if (!name.empty() && n != name) continue;
    std::lock_guard entry_lock(entry->mu);
    v1::BindingStats stats = entry->counters;
    const size_t n_lat = std::min(entry->latency_count, kLatencyWindow);
    if (n_lat > 0) {
      std::vector<int64_t> window(entry->latencies_ns.begin(), entry->latencies_ns.begin() + n_lat);
      std::sort(window.begin(), window.end());
      auto pct = [&](double p) {
        return std::chrono::nanoseconds(
            window[std::min(n_lat - 1, static_cast<size_t>(p * n_lat))]);
      };
      *stats.mutable_latency_p50() = v1::ToProtoDuration(pct(0.50));
      *stats.mutable_latency_p99() = v1::ToProtoDuration(pct(0.99));
    }
    out.push_back(std::move(stats));
  }
  return out;
}

}  // namespace smtpbridge::dispatcher
