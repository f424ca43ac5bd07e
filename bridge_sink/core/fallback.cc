#include "core/fallback.h"

#include <limits>
#include <string>

#include <spdlog/spdlog.h>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::sink {

const v1::Verdict& Fallback::DefaultFor(v1::EventType type) const {
  auto it = options_.default_verdicts.find(type);
  return it != options_.default_verdicts.end() ? it->second : options_.default_verdict;
}

Evaluation Fallback::Answer(const v1::Event& event, FallbackReason reason, SteadyTime now) {
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
  Warn(event, reason, e.source, now);
  return e;
}

void Fallback::Warn(const v1::Event& event, FallbackReason reason, VerdictSource source,
                    SteadyTime now) {
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
      " dispatcher={} ({} more fallbacks with this reason since the last warning)",
      FallbackReasonName(reason), VerdictSourceName(source), v1::EventTypeName(event.type()),
      event.session().instance(), event.command().keyword(), event.session().session_id(),
      event.event_id(), options_.dispatcher_target, suppressed);
}

}  // namespace smtpbridge::sink
