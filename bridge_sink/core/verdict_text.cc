#include "core/verdict_text.h"

#include <algorithm>
#include <cctype>

#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::sink {
namespace {

bool IsDigits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// "5.7.1": class digit, then 1-3 digits, then 1-3 digits (RFC 3463).
bool IsEnhancedCode(std::string_view s) {
  const auto dot1 = s.find('.');
  if (dot1 != 1) return false;
  const auto dot2 = s.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return false;
  const auto subject = s.substr(dot1 + 1, dot2 - dot1 - 1);
  const auto detail = s.substr(dot2 + 1);
  return IsDigits(s.substr(0, 1)) && IsDigits(subject) && subject.size() <= 3 && IsDigits(detail) &&
         detail.size() <= 3;
}

}  // namespace

std::optional<v1::Action> ParseAction(std::string_view text) {
  for (v1::Action a : {v1::ACTION_CONTINUE, v1::ACTION_RESPOND, v1::ACTION_REJECT,
                       v1::ACTION_TEMPFAIL, v1::ACTION_DROP_SESSION, v1::ACTION_SKIP_RECIPIENT,
                       v1::ACTION_DEFER_IF_PERMIT, v1::ACTION_DEFER_IF_REJECT}) {
    const std::string_view name = v1::ActionName(a);
    if (name.size() == text.size() &&
        std::equal(name.begin(), name.end(), text.begin(), [](char x, char y) {
          return x == std::tolower(static_cast<unsigned char>(y));
        })) {
      return a;
    }
  }
  return std::nullopt;
}

std::optional<v1::SmtpReply> ParseReplyText(std::string_view text, std::string* error) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.size() < 3 || !IsDigits(text.substr(0, 3)) || (text.size() > 3 && text[3] != ' ')) {
    *error = "expected \"CODE [X.Y.Z] text\", e.g. \"550 5.7.1 Blocked\"";
    return std::nullopt;
  }
  v1::SmtpReply reply;
  const int code = std::stoi(std::string(text.substr(0, 3)));
  if (code < 200 || code > 599) {
    *error = "reply code must be 200..599";
    return std::nullopt;
  }
  reply.set_code(static_cast<uint32_t>(code));
  std::string_view rest = text.size() > 3 ? text.substr(4) : std::string_view{};
  const auto space = rest.find(' ');
  const std::string_view first = rest.substr(0, space);
  if (IsEnhancedCode(first)) {
    if (first[0] != text[0]) {
      *error = "enhanced code class must match the reply code";
      return std::nullopt;
    }
    reply.set_enhanced_code(std::string(first));
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  }
  if (rest.find_first_of("\r\n") != std::string_view::npos) {
    *error = "reply text must not contain line breaks";
    return std::nullopt;
  }
  if (!rest.empty()) reply.add_lines(std::string(rest));
  return reply;
}

bool ReplyFitsAction(v1::Action action, const v1::SmtpReply& reply, std::string* error) {
  error->clear();
  const uint32_t code = reply.code();
  switch (action) {
    case v1::ACTION_REJECT:
      if (code / 100 != 5) *error = "reject needs a 5xx reply";
      break;
    case v1::ACTION_TEMPFAIL:
    case v1::ACTION_DEFER_IF_PERMIT:
    case v1::ACTION_DEFER_IF_REJECT:
      if (code / 100 != 4 || code == 421)
        *error = std::string(v1::ActionName(action)) + " needs a 4xx reply other than 421";
      break;
    case v1::ACTION_DROP_SESSION:
      if (code != 421) *error = "drop_session needs a 421 reply";
      break;
    case v1::ACTION_RESPOND:
      if (code / 100 == 3 || code == 421)
        *error = "respond needs a 2xx, 4xx or 5xx reply other than 421";
      break;
    case v1::ACTION_CONTINUE:
    case v1::ACTION_SKIP_RECIPIENT:
      *error = "a reply only goes with respond, reject, tempfail, drop_session or defer_if_*";
      break;
    default:
      break;
  }
  return error->empty();
}

namespace {

// The contract's reply syntax and class for `action` (the dispatcher's rules, minus the
// event-specific ones).
bool UsableReply(v1::Action action, const v1::SmtpReply& reply) {
  const uint32_t code = reply.code();
  if (code < 200 || code > 599) return false;
  const auto& enhanced = reply.enhanced_code();
  if (!enhanced.empty() &&
      (!v1::IsEnhancedCode(enhanced) || static_cast<uint32_t>(enhanced[0] - '0') != code / 100)) {
    return false;
  }
  for (const auto& line : reply.lines()) {
    if (!v1::IsReplyText(line) || line.size() > 500) return false;
  }
  std::string error;
  return ReplyFitsAction(action, reply, &error);
}

}  // namespace

HostConformance ConformForRelayHost(v1::Verdict* verdict) {
  HostConformance out;
  switch (verdict->action()) {
    case v1::ACTION_DEFER_IF_PERMIT:
      verdict->set_action(v1::ACTION_TEMPFAIL);
      if (!verdict->has_reply() || verdict->reply().code() == 0) {
        verdict->mutable_reply()->set_code(450);
        verdict->mutable_reply()->set_enhanced_code("4.7.1");
        if (verdict->reply().lines().empty())
          verdict->mutable_reply()->add_lines("Try again later");
      }
      break;
    case v1::ACTION_DEFER_IF_REJECT:
      verdict->set_action(v1::ACTION_CONTINUE);
      verdict->clear_reply();
      ++out.refused;
      break;
    default:
      if (!v1::Action_IsValid(verdict->action())) {
        verdict->set_action(v1::ACTION_CONTINUE);
        verdict->clear_reply();
        ++out.refused;
      }
      break;
  }
  const auto action = verdict->action();
  const bool replies = action == v1::ACTION_RESPOND || action == v1::ACTION_REJECT ||
                       action == v1::ACTION_TEMPFAIL || action == v1::ACTION_DROP_SESSION;
  bool dropped = false;
  if (replies && verdict->has_reply() && verdict->reply().code() != 0 &&
      !UsableReply(action, verdict->reply())) {
    verdict->clear_reply();
    dropped = true;
    ++out.refused;
  }
  if (action == v1::ACTION_RESPOND && (!verdict->has_reply() || verdict->reply().code() == 0)) {
    verdict->set_action(v1::ACTION_CONTINUE);
    if (!dropped) ++out.refused;
  }
  auto* edits = verdict->mutable_edits();
  for (int i = 0; i < edits->size();) {
    const auto& edit = edits->Get(i);
    if (edit.has_warn() || edit.has_info()) {
      out.notes.push_back(
          {edit.has_warn(), edit.has_warn() ? edit.warn().text() : edit.info().text()});
    } else if (edit.has_filter() || edit.has_redirect()) {
      ++out.refused;
    } else {
      ++i;
      continue;
    }
    edits->erase(edits->begin() + i);
  }
  return out;
}

}  // namespace smtpbridge::sink
