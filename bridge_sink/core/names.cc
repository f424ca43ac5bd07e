// Text forms of VerdictSource and FallbackReason, as they appear in metrics labels and logs.
#include "smtpbridge/sink/sink.h"

namespace smtpbridge::sink {

std::string_view VerdictSourceName(VerdictSource source) {
  switch (source) {
    case VerdictSource::kDispatcher:
      return "dispatcher";
    case VerdictSource::kDefault:
      return "default";
    case VerdictSource::kStaleCache:
      return "stale_cache";
    case VerdictSource::kLocalRules:
      return "local_rules";
    case VerdictSource::kCache:
      return "cache";
  }
  return "unknown";
}

std::string_view FallbackReasonName(FallbackReason reason) {
  switch (reason) {
    case FallbackReason::kNone:
      return "none";
    case FallbackReason::kBudgetExceeded:
      return "budget_exceeded";
    case FallbackReason::kUnavailable:
      return "unavailable";
    case FallbackReason::kError:
      return "error";
    case FallbackReason::kCircuitOpen:
      return "circuit_open";
    case FallbackReason::kShutdown:
      return "shutdown";
    case FallbackReason::kShed:
      return "shed";
  }
  return "unknown";
}

}  // namespace smtpbridge::sink
