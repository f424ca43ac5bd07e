#include "smtpbridge/worker/event_context.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

#include "smtpbridge/common/ascii.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::worker {
namespace {

EventContext::Clock::time_point DeadlineFrom(const v1::SinkRequest& request) {
  if (!request.has_time_left()) return EventContext::Clock::time_point::max();
  return EventContext::Clock::now() + std::chrono::duration_cast<EventContext::Clock::duration>(
                                          v1::FromProtoDuration(request.time_left()));
}

// "TO:<a@b> NOTIFY=NEVER" -> "a@b"; "" when there is no path.
std::string PathFromArgument(std::string_view arg) {
  const auto open = arg.find('<');
  if (open == std::string_view::npos) return {};
  const auto close = arg.find('>', open + 1);
  if (close == std::string_view::npos) return {};
  return std::string(arg.substr(open + 1, close - open - 1));
}

}  // namespace

EventContext::EventContext(const v1::SinkRequest& request, Clock::time_point deadline)
    : request_(request), deadline_(deadline) {}

EventContext::EventContext(const v1::SinkRequest& request)
    : EventContext(request, DeadlineFrom(request)) {}

std::string EventContext::recipient() const {
  const auto& env = envelope();
  if (!env.recipient().empty()) return env.recipient();
  if (type() == v1::EVENT_TYPE_PER_RECIPIENT &&
      env.recipient_index() < static_cast<uint32_t>(env.recipients_size())) {
    return env.recipients(static_cast<int>(env.recipient_index()));
  }
  if (keyword() == "RCPT") return PathFromArgument(argument());
  return {};
}

std::optional<std::string_view> EventContext::header(std::string_view name) const {
  for (const auto& h : message().headers()) {
    if (common::EqualsIgnoreCase(h.name(), name)) return std::string_view(h.value());
  }
  return std::nullopt;
}

std::vector<std::string_view> EventContext::headers(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& h : message().headers()) {
    if (common::EqualsIgnoreCase(h.name(), name)) out.emplace_back(h.value());
  }
  return out;
}

std::optional<std::string_view> EventContext::property(std::string_view key) const {
  const auto& props = binding().sink_properties();
  const auto it = props.find(std::string(key));
  if (it == props.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::string EventContext::property(std::string_view key, std::string_view fallback) const {
  return std::string(property(key).value_or(fallback));
}

std::vector<std::string> EventContext::property_list(std::string_view key) const {
  std::vector<std::string> out;
  std::string_view rest = property(key).value_or("");
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = common::TrimBlanks(rest.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

int64_t EventContext::property_int(std::string_view key, int64_t fallback) const {
  const auto text = property(key);
  if (!text || text->empty()) return fallback;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size()) {
    throw std::invalid_argument("sink property " + std::string(key) + "=" + std::string(*text) +
                                " is not an integer");
  }
  return value;
}

std::chrono::nanoseconds EventContext::time_left() const {
  if (deadline_ == Clock::time_point::max()) return std::chrono::nanoseconds::max();
  return std::max(std::chrono::nanoseconds(0),
                  std::chrono::duration_cast<std::chrono::nanoseconds>(deadline_ - Clock::now()));
}

}  // namespace smtpbridge::worker
