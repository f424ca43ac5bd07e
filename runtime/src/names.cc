#include "smtpbridge/v1/names.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <utility>

#include "smtpbridge/common/ascii.h"

namespace smtpbridge::v1 {
namespace {

struct EventNames {
  EventType type;
  std::string_view name;
  std::string_view seo_name;
};

constexpr std::array<EventNames, 9> kEventNames{{
    {EVENT_TYPE_INBOUND_COMMAND, "INBOUND_COMMAND", "OnSmtpInboundCommand"},
    {EVENT_TYPE_SESSION_START, "SESSION_START", "OnSmtpSessionStart"},
    {EVENT_TYPE_MESSAGE_START, "MESSAGE_START", "OnSmtpMessageStart"},
    {EVENT_TYPE_PER_RECIPIENT, "PER_RECIPIENT", "OnSmtpPerRecipient"},
    {EVENT_TYPE_BEFORE_DATA, "BEFORE_DATA", "OnSmtpBeforeData"},
    {EVENT_TYPE_SESSION_END, "SESSION_END", "OnSmtpSessionEnd"},
    {EVENT_TYPE_OUTBOUND_COMMAND, "OUTBOUND_COMMAND", "OnSmtpOutboundCommand"},
    {EVENT_TYPE_SERVER_RESPONSE, "SERVER_RESPONSE", "OnSmtpServerResponse"},
    {EVENT_TYPE_CONNECT, "CONNECT", "OnConnect"},
}};

}  // namespace

std::string_view EventTypeName(EventType type) {
  for (const auto& e : kEventNames) {
    if (e.type == type) return e.name;
  }
  return "UNSPECIFIED";
}

std::optional<EventType> ParseEventType(std::string_view text) {
  constexpr std::string_view kPrefix = "EVENT_TYPE_";
  if (text.size() > kPrefix.size() &&
      common::EqualsIgnoreCase(text.substr(0, kPrefix.size()), kPrefix)) {
    text.remove_prefix(kPrefix.size());
  }
  for (const auto& e : kEventNames) {
    if (common::EqualsIgnoreCase(text, e.name) || common::EqualsIgnoreCase(text, e.seo_name))
      return e.type;
  }
  return std::nullopt;
}

std::string_view ActionName(Action action) {
  switch (action) {
    case ACTION_UNSPECIFIED:
    case ACTION_CONTINUE:
      return "continue";
    case ACTION_RESPOND:
      return "respond";
    case ACTION_REJECT:
      return "reject";
    case ACTION_TEMPFAIL:
      return "tempfail";
    case ACTION_DROP_SESSION:
      return "drop_session";
    case ACTION_SKIP_RECIPIENT:
      return "skip_recipient";
    case ACTION_DEFER_IF_PERMIT:
      return "defer_if_permit";
    case ACTION_DEFER_IF_REJECT:
      return "defer_if_reject";
    default:
      return "unknown";
  }
}

std::string_view OutcomeKindName(SinkOutcomeKind kind) {
  switch (kind) {
    case SINK_OUTCOME_KIND_ANSWERED:
      return "answered";
    case SINK_OUTCOME_KIND_CACHED:
      return "cached";
    case SINK_OUTCOME_KIND_TIMEOUT:
      return "timeout";
    case SINK_OUTCOME_KIND_ERROR:
      return "error";
    case SINK_OUTCOME_KIND_CANCELLED:
      return "cancelled";
    default:
      return "pending";
  }
}

std::string ReplyText(const SmtpReply& reply) {
  std::string out = std::to_string(reply.code());
  if (!reply.enhanced_code().empty()) out += " " + reply.enhanced_code();
  for (int i = 0; i < reply.lines_size(); ++i) {
    out += (i == 0 ? " " : " / ") + reply.lines(i);
  }
  return out;
}

std::optional<std::chrono::nanoseconds> ParseDurationText(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || value < 0) return std::nullopt;
  std::string_view unit(end, text.data() + text.size() - end);
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1e6},   {"ns", 1},  {"us", 1e3}, {"µs", 1e3},
      {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) {
      const double ns = value * scale;
      if (ns > 1e18) return std::nullopt;
      return std::chrono::nanoseconds(static_cast<int64_t>(ns));
    }
  }
  return std::nullopt;
}

google::protobuf::Duration ToProtoDuration(std::chrono::nanoseconds d) {
  google::protobuf::Duration out;
  out.set_seconds(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  out.set_nanos(static_cast<int32_t>((d % std::chrono::seconds(1)).count()));
  return out;
}

std::chrono::nanoseconds FromProtoDuration(const google::protobuf::Duration& d) {
  return std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nanos());
}

}  // namespace smtpbridge::v1
