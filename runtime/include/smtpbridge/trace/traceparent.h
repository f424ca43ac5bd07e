// W3C trace context (https://www.w3.org/TR/trace-context/): the `traceparent` value
// "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>". The sink starts one trace per SMTP
// session (a span per event) and sends it as gRPC metadata; the dispatcher logs the trace id
// and gives every worker call a child span. Only what smtpbridge itself sets is used: a
// `traceparent` header inside a mail message is message content and never read for this.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace smtpbridge::trace {

inline constexpr const char* kMetadataKey = "traceparent";

struct TraceParent {
  std::string trace_id;      // 32 lower-case hex digits, not all zero
  std::string span_id;       // 16 lower-case hex digits, not all zero
  std::string flags = "01";  // sampled

  std::string ToString() const { return "00-" + trace_id + "-" + span_id + "-" + flags; }
};

// nullopt for anything that is not a valid version-00 value (or a later version's prefix).
std::optional<TraceParent> Parse(std::string_view text);

// Random ids (not all zero).
std::string NewTraceId();
std::string NewSpanId();

// The trace of one SMTP session: the same id for every event of `session_id` in this process,
// without keeping state (a keyed hash of the session id with a per-process random key).
std::string SessionTraceId(std::string_view session_id);

// A child span of `parent`: the same trace, a new span id.
TraceParent Child(const TraceParent& parent);

}  // namespace smtpbridge::trace
