// The conformance worker's behaviour (tests/vectors/SPEC.md, section 1): a verdict built with the
// SDK's own builder from the binding's sink_properties.
#pragma once

#include <string>

#include "smtpbridge/worker/event_context.h"
#include "smtpbridge/worker/verdict.h"

namespace smtpbridge::conformance {

// Throws (so the SDK answers INTERNAL) for `fail: 1` and for properties it cannot parse.
worker::Verdict BuildConformanceVerdict(const worker::EventContext& ctx);

// The canonical `reason: @echo` text for this event.
std::string EchoReason(const worker::EventContext& ctx);

}  // namespace smtpbridge::conformance
