// The sink: what every host (SMTP proxy, milter, Postfix policy server) calls for each protocol
// event. It sends the event to the dispatcher and answers within the budget, from the dispatcher
// or from its local fallback (per-event default, circuit breaker, stale cache, local rules).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::sink {

// Where a verdict came from.
enum class VerdictSource {
  kDispatcher,  // the dispatcher answered in time
  kDefault,     // fallback: the per-event default verdict
  kStaleCache,  // fallback: a verdict the sink cached earlier (stale-while-down)
  kLocalRules,  // fallback: the local rules file
  kCache,       // not a fallback: a fresh verdict the dispatcher allowed reuse of (cache_ttl)
};

// Why the fallback answered (kNone when the dispatcher did).
enum class FallbackReason {
  kNone,
  kBudgetExceeded,  // the sink's own timer fired before the dispatcher answered
  kUnavailable,     // the dispatcher could not be reached
  kError,           // the dispatcher answered with an error status
  kCircuitOpen,     // the breaker is open: the dispatcher was not even asked
  kShutdown,        // the sink is shutting down
  kShed,            // the dispatcher shed the event (over a limit); not a failure for the breaker
};

std::string_view VerdictSourceName(VerdictSource source);
std::string_view FallbackReasonName(FallbackReason reason);

struct Evaluation {
  v1::Verdict verdict;
  VerdictSource source = VerdictSource::kDispatcher;
  FallbackReason reason = FallbackReason::kNone;
  // Binding that consumed the event (from the dispatcher); empty otherwise.
  std::string decided_by;
  // Time from Evaluate() to the answer, by the sink's clock.
  std::chrono::nanoseconds latency{0};
};

// Called exactly once per Evaluate(). It may run inline inside Evaluate() (open breaker, fresh
// cache hit, shutdown) or on a sink thread; hosts post it to their own executor when they need
// ordering.
using EvaluationCallback = std::function<void(Evaluation)>;

class Sink {
 public:
  virtual ~Sink() = default;

  // Evaluate one event within `budget`: never answers later than the budget (plus scheduling
  // noise), whatever the dispatcher does.
  virtual void Evaluate(v1::Event event, std::chrono::microseconds budget,
                        EvaluationCallback done) = 0;

  // Whether any enabled binding wants this event (from the dispatcher's GetInterests, refreshed
  // in the background). Unknown (dispatcher never reached) counts as wanted, so the fallback
  // still applies. `keyword` is the upper-case command verb, or empty for "any".
  virtual bool Wants(uint32_t instance, v1::EventType type, std::string_view keyword) const = 0;

  // `_EOD`: the most body octets any matching binding wants (0: headers only).
  virtual uint32_t BodyLimit(uint32_t instance) const = 0;

  // Stop: pending evaluations answer from the fallback (reason kShutdown); later calls too.
  // Joins the sink's threads; destroying the sink afterwards is safe. Call it (and destroy the
  // sink) from a host thread, never from inside an EvaluationCallback.
  virtual void Shutdown() = 0;
};

}  // namespace smtpbridge::sink
