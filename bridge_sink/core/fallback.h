// The local fallback: answers an event when the dispatcher did not, in this order:
//   1. the local rules file (operator decisions that must hold offline win over anything cached),
//   2. the stale-while-down cache (the dispatcher's own recent verdict for an equivalent event),
//   3. the per-event-type default verdict.
// Every answer is counted (by the caller, via SinkMetrics) and logged here, rate-limited per
// reason, so degraded operation is never silent.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string_view>

#include "core/local_rules.h"
#include "core/stale_cache.h"
#include "core/timers.h"
#include "smtpbridge/sink/sink.h"
#include "smtpbridge/sink/sink_factory.h"

namespace smtpbridge::sink {

class Fallback {
 public:
  // Opens options.fallback_log (throws std::runtime_error when it cannot).
  Fallback(const SinkOptions& options, LocalRules rules, StaleCache* cache);
  ~Fallback();

  // The fallback's verdict and source for `event`; also logs (rate-limited) why, and writes
  // the fallback log line (with `trace_id`, the event's trace) when one is configured.
  Evaluation Answer(const v1::Event& event, FallbackReason reason, SteadyTime now,
                    std::string_view trace_id = {});

  // The default verdict for an event type.
  const v1::Verdict& DefaultFor(v1::EventType type) const;

 private:
  void Warn(const v1::Event& event, FallbackReason reason, VerdictSource source, SteadyTime now,
            std::string_view trace_id);
  void WriteLine(const v1::Event& event, FallbackReason reason, VerdictSource source,
                 std::string_view trace_id);

  const SinkOptions& options_;
  const LocalRules rules_;
  StaleCache* const cache_;
  // Per reason: when the last warning was logged, and how many were suppressed since.
  std::array<std::atomic<int64_t>, 7> last_warn_ns_{};
  std::array<std::atomic<uint64_t>, 7> suppressed_{};
  std::FILE* log_ = nullptr;  // fallback_log, when set
  bool owns_log_ = false;
  std::mutex log_mu_;
};

}  // namespace smtpbridge::sink
