// Verdicts as operators write them in YAML: an action name and an optional reply line
// ("550 5.7.1 Sender blocked").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::sink {

// "continue", "respond", "reject", "tempfail", "drop_session", "skip_recipient" (any case).
std::optional<v1::Action> ParseAction(std::string_view text);

// "550 5.7.1 text" / "451 text" / "250": a code 200..599, an optional enhanced code (class
// matching the code's first digit) and the text. Sets `error` and returns nullopt otherwise.
std::optional<v1::SmtpReply> ParseReplyText(std::string_view text, std::string* error);

// Whether `reply` fits `action` (reject 5xx, tempfail 4xx, drop_session 421); `error` says why
// not.
bool ReplyFitsAction(v1::Action action, const v1::SmtpReply& reply, std::string* error);

}  // namespace smtpbridge::sink
