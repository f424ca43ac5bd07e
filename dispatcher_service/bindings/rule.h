// SEO binding rules, compiled once at load time.
//
// A rule is a case-insensitive, ';'-separated list of alternatives; the event matches when any
// alternative does:
//   *                      every event
//   RCPT                   the command keyword (INBOUND_COMMAND, outbound events; `_EOD` at end
//                          of data)
//   MAIL FROM=*@ex.com     MAIL whose reverse path (angle brackets and ESMTP parameters
//                          stripped) matches the glob; `<>` matches the null sender
//   RCPT TO=*@ex.com       the same for the forward path
//   EHLO=*.example.com     any other keyword: the glob matches the whole argument
//   5*  /  250  /  4??     SERVER_RESPONSE only: the reply code the next hop gave
//   CONNECT=192.0.2.*      CONNECT only: the client address (a bare `CONNECT` matches all)
// For SERVER_RESPONSE the keyword forms match the command that elicited the reply
// (Event.command).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtpbridge/common/event_keys.h"
#include "smtpbridge/common/glob.h"
#include "smtpbridge/v1/event.pb.h"

namespace smtpbridge::dispatcher {

using common::Glob;

class Rule {
 public:
  // Compiles `text` for bindings on `event`. On error returns nullopt and sets `error` to a
  // message that names the offending alternative.
  static std::optional<Rule> Compile(std::string_view text, v1::EventType event,
                                     std::string* error);

  bool Matches(const v1::Event& event) const;

  // Upper-case keywords this rule can match, for GetInterests; empty when it matches any
  // keyword (`*`, reply-code and CONNECT alternatives).
  const std::vector<std::string>& keywords() const { return keywords_; }
  bool matches_any_keyword() const { return any_keyword_; }
  bool CanMatchKeyword(std::string_view upper_keyword) const;

 private:
  enum class Kind {
    kAny,           // "*"
    kKeyword,       // "RCPT"
    kPath,          // "MAIL FROM=glob", "RCPT TO=glob"
    kArgument,      // "EHLO=glob"
    kReplyCode,     // "5*" on SERVER_RESPONSE
    kClientAddress  // "CONNECT=glob" on CONNECT
  };
  struct Alternative {
    Kind kind;
    std::string keyword;  // upper case
    std::optional<Glob> glob;
    bool null_path = false;  // "MAIL FROM=<>"
  };

  bool MatchesAlternative(const Alternative& alt, const v1::Event& event, std::string_view keyword,
                          std::string_view argument) const;

  std::vector<Alternative> alternatives_;
  std::vector<std::string> keywords_;
  bool any_keyword_ = false;
};

// "FROM:<a@b> SIZE=10" -> "a@b"; "TO: <@relay:u@h>" -> "u@h"; "FROM:<>" -> "". Without the
// "FROM:"/"TO:" prefix the argument itself is taken as the path.
std::string_view ExtractPath(std::string_view argument);

// The keyword and argument of an event's command (smtpbridge/common/event_keys.h).
using common::CommandArgument;
using common::CommandKeyword;

}  // namespace smtpbridge::dispatcher
