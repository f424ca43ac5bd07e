#include "smtpbridge/common/event_keys.h"

#include "smtpbridge/common/ascii.h"

namespace smtpbridge::common {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

void Add(std::string* key, std::string_view field) {
  *key += std::to_string(field.size());
  *key += ':';
  *key += field;
}

std::string Recipient(const v1::Event& event) {
  const auto& env = event.envelope();
  if (!env.recipient().empty()) return env.recipient();
  if (event.type() == v1::EVENT_TYPE_PER_RECIPIENT &&
      env.recipient_index() < static_cast<uint32_t>(env.recipients_size())) {
    return env.recipients(static_cast<int>(env.recipient_index()));
  }
  return {};
}

}  // namespace

std::string_view CommandKeyword(const v1::Command& command) {
  if (!command.keyword().empty()) return command.keyword();
  std::string_view line = Trim(command.line());
  const size_t end = line.find_first_of(" \t:");
  return line.substr(0, end);
}

std::string_view CommandArgument(const v1::Command& command) {
  if (!command.argument().empty() || !command.keyword().empty()) return command.argument();
  std::string_view line = Trim(command.line());
  const size_t end = line.find_first_of(" \t");
  if (end == std::string_view::npos) return {};
  return Trim(line.substr(end));
}

bool Cacheable(const v1::Event& event) {
  const std::string_view keyword = CommandKeyword(event.command());
  return !common::EqualsIgnoreCase(keyword, "_EOD") && !event.has_message();
}

std::string CommandKey(const v1::Event& event) {
  std::string key;
  Add(&key, common::AsciiLower(CommandKeyword(event.command())));
  Add(&key, CommandArgument(event.command()));
  Add(&key, event.type() == v1::EVENT_TYPE_SERVER_RESPONSE ? std::to_string(event.response().code())
                                                           : std::string());
  Add(&key,
      event.type() == v1::EVENT_TYPE_CONNECT ? event.session().client().address() : std::string());
  return key;
}

std::string ScopeKey(v1::CacheScope scope, const v1::Event& event) {
  switch (scope) {
    case v1::CACHE_SCOPE_UNSPECIFIED:
      return CommandKey(event);
    case v1::CACHE_SCOPE_CLIENT_ADDRESS:
      return event.session().client().address();
    case v1::CACHE_SCOPE_SENDER:
      // The null sender is a real sender; has_sender tells it from "no transaction".
      return event.envelope().has_sender()
                 ? "<" + common::AsciiLower(event.envelope().sender()) + ">"
                 : "";
    case v1::CACHE_SCOPE_RECIPIENT:
      return common::AsciiLower(Recipient(event));
    case v1::CACHE_SCOPE_SESSION:
      return event.session().session_id();
    default:
      return "";
  }
}

}  // namespace smtpbridge::common
