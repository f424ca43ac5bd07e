// Text forms of the wire types: event names as operators write them, durations as "20ms".
// Shared by the YAML loader, the hosts' configs, bridgectl and the logs.
#pragma once

#include <google/protobuf/duration.pb.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "smtpbridge/v1/dispatcher.pb.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::v1 {

// "INBOUND_COMMAND", "SESSION_START", ... (the enum name without its prefix).
std::string_view EventTypeName(EventType type);

// Accepts "INBOUND_COMMAND", "EVENT_TYPE_INBOUND_COMMAND" and the SEO name
// "OnSmtpInboundCommand" ("OnConnect" for CONNECT), case-insensitively.
std::optional<EventType> ParseEventType(std::string_view text);

// "continue", "respond", "reject", "tempfail", "drop_session", "skip_recipient",
// "defer_if_permit", "defer_if_reject".
std::string_view ActionName(Action action);

// What one binding's sink call came to: "answered", "cached", "timeout", "error", "cancelled",
// or "pending" (not finished when the decision was made). The decision log, metrics and bridgectl.
std::string_view OutcomeKindName(SinkOutcomeKind kind);

// "250 2.1.0 Ok" style, multi-line replies joined with " / ".
std::string ReplyText(const SmtpReply& reply);

// "20ms", "1.5s", "250us", "2m", "0"; a bare number is milliseconds. nullopt when malformed
// or negative.
std::optional<std::chrono::nanoseconds> ParseDurationText(std::string_view text);

google::protobuf::Duration ToProtoDuration(std::chrono::nanoseconds d);
std::chrono::nanoseconds FromProtoDuration(const google::protobuf::Duration& d);

}  // namespace smtpbridge::v1
