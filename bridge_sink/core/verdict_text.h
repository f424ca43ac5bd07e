// Verdicts as operators write them in YAML: an action name and an optional reply line
// ("550 5.7.1 Sender blocked").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::sink {

// "continue", "respond", "reject", "tempfail", "drop_session", "skip_recipient",
// "defer_if_permit", "defer_if_reject" (any case).
std::optional<v1::Action> ParseAction(std::string_view text);

// "550 5.7.1 text" / "451 text" / "250": a code 200..599, an optional enhanced code (class
// matching the code's first digit) and the text. Sets `error` and returns nullopt otherwise.
std::optional<v1::SmtpReply> ParseReplyText(std::string_view text, std::string* error);

// Whether `reply` fits `action` (respond 2xx/4xx/5xx other than 421; reject 5xx; tempfail,
// defer_if_* 4xx other than 421; drop_session 421), as the dispatcher's rules say
// (docs/verdicts.md); `error` says why not.
bool ReplyFitsAction(v1::Action action, const v1::SmtpReply& reply, std::string* error);

// What a relaying host (the proxy, the milter: no later Postfix restriction, no routing) makes of
// a verdict before acting on it, the same on both (docs/verdicts.md). The dispatcher validates
// every verdict, so beyond the vocabulary mapping this is a defence that should never fire:
//   DEFER_IF_PERMIT  -> TEMPFAIL (their own checks have already accepted), default 450 4.7.1
//   DEFER_IF_REJECT  -> CONTINUE, refused (nothing later would reject that they know of)
//   an unknown action -> CONTINUE, refused
//   a reply that breaks the contract (code, class, enhanced code, text) -> dropped, so the
//     action's default reply applies; RESPOND without a usable reply -> CONTINUE; refused
//   edits: warn / info -> taken out into `notes` (the host logs them); filter / redirect ->
//     dropped, refused
struct HostConformance {
  int refused = 0;
  struct Note {
    bool warn = false;
    std::string text;
  };
  std::vector<Note> notes;
};
HostConformance ConformForRelayHost(v1::Verdict* verdict);

}  // namespace smtpbridge::sink
