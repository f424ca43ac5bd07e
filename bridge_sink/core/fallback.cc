#include "core/fallback.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "smtpbridge/common/rfc3339.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::sink {

Fallback::Fallback(const SinkOptions& options, LocalRules rules, StaleCache* cache)
    : options_(options), rules_(std::move(rules)), cache_(cache) {
  if (options_.fallback_log.empty()) return;
  if (options_.fallback_log == "-") {
    log_ = stdout;
    return;
  }
  log_ = std::fopen(options_.fallback_log.c_str(), "ae");
  if (!log_) {
    throw std::runtime_error("sink fallback_log: cannot open " + options_.fallback_log + ": " +
                             std::strerror(errno));
  }
  owns_log_ = true;
}

Fallback::~Fallback() {
  if (owns_log_) std::fclose(log_);
}

void Fallback::WriteLine(const v1::Event& event, FallbackReason reason, VerdictSource source,
                         std::string_view trace_id) {
  const auto budget = v1::FromProtoDuration(event.budget());
  // No body, no AUTH data, no addresses: what joins it to the dispatcher's decision log.
  const nlohmann::json line = {
      {"ts", common::Rfc3339Now()},
      {"kind", "fallback"},
      {"event_id", event.event_id()},
      {"session_id", event.session().session_id()},
      {"trace_id", std::string(trace_id)},
      {"instance", event.session().instance()},
      {"event", std::string(v1::EventTypeName(event.type()))},
      {"keyword", event.command().keyword()},
      {"reason", std::string(FallbackReasonName(reason))},
      {"source", std::string(VerdictSourceName(source))},
      {"budget_us", std::chrono::duration_cast<std::chrono::microseconds>(budget).count()},
      {"dispatcher", options_.dispatcher_target},
  };
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(log_mu_);
  std::fwrite(text.data(), 1, text.size(), log_);
  std::fflush(log_);
}

const v1::Verdict& Fallback::DefaultFor(v1::EventType type) const {
  auto it = options_.default_verdicts.find(type);
  return it != options_.default_verdicts.end() ? it->second : options_.default_verdict;
}

Evaluation Fallback::Answer(const v1::Event& event, FallbackReason reason, SteadyTime now,
                            std::string_view trace_id) {
  Evaluation e;
  e.reason = reason;
  if (const LocalRule* rule = rules_.Match(event)) {
    e.verdict = rule->verdict;
    e.source = VerdictSource::kLocalRules;
  } else if (auto cached = cache_->Get(event, now)) {
    e.verdict = std::move(*cached);
    e.source = VerdictSource::kStaleCache;
  } else {
    e.verdict = DefaultFor(event.type());
    e.source = VerdictSource::kDefault;
  }
  std::string why = "sink fallback (" + std::string(FallbackReasonName(reason)) + ", " +
                    std::string(VerdictSourceName(e.source)) + ")";
  e.verdict.set_reason(e.verdict.reason().empty() ? why : why + ": " + e.verdict.reason());
  Warn(event, reason, e.source, now, trace_id);
  if (log_) WriteLine(event, reason, e.source, trace_id);
  return e;
}

void Fallback::Warn(const v1::Event& event, FallbackReason reason, VerdictSource source,
                    SteadyTime now, std::string_view trace_id) {
  const int i = static_cast<int>(reason);
  const int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const int64_t interval_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.warn_interval).count();
  int64_t last = last_warn_ns_[i].load(std::memory_order_relaxed);
  const bool due = last == 0 || now_ns - last >= interval_ns;
  if (!due || !last_warn_ns_[i].compare_exchange_strong(last, now_ns == 0 ? 1 : now_ns)) {
    suppressed_[i].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint64_t suppressed = suppressed_[i].exchange(0, std::memory_order_relaxed);
  spdlog::warn(
      "sink fallback: reason={} source={} event={} instance={} keyword={} session={} event_id={}"
      " trace_id={} dispatcher={} ({} more fallbacks with this reason since the last warning)",
      FallbackReasonName(reason), VerdictSourceName(source), v1::EventTypeName(event.type()),
      event.session().instance(), event.command().keyword(), event.session().session_id(),
      event.event_id(), trace_id.empty() ? "-" : trace_id, options_.dispatcher_target, suppressed);
}

}  // namespace smtpbridge::sink
