// The one written rule set a worker verdict must meet before the dispatcher merges it (pure, no
// I/O). A verdict that breaks a rule is that worker's error: the fan-out applies the binding's
// on_error instead, so an invalid verdict never decides, and never cancels a lower-priority valid
// one. Hosts therefore never receive a verdict they must second-guess (their own checks stay, as
// counted defences). docs/verdicts.md has the same rules as a table.
//
//   action        a value this dispatcher knows (an unknown one, e.g. 42, is refused).
//   reply         code 200..599; enhanced_code "C.S.D" (RFC 3463) of the code's class; at most
//                 kMaxReplyLines lines of at most kMaxReplyLineOctets, no CR/LF/NUL/control
//                 characters (HT allowed). Per action:
//                   RESPOND       required; 2xx, 4xx or 5xx; never 3xx; 421 only through
//                                 DROP_SESSION; 221 only on INBOUND_COMMAND QUIT
//                   REJECT        optional; 5xx
//                   TEMPFAIL, DEFER_IF_PERMIT, DEFER_IF_REJECT   optional; 4xx other than 421
//                   DROP_SESSION  optional; 421
//                   CONTINUE      only on SERVER_RESPONSE (replaces the relayed reply), of the
//                                 class of Event.response (so 354 only where the next hop said 3xx)
//                   SKIP_RECIPIENT none
//   command       set_command / append: no CR/LF/NUL/control characters.
//   next_state, cache_scope   known values.
//   edits         a known edit kind; header names RFC 5322 ftext, values without NUL or bare
//                 CR/LF (folding CRLF + WSP allowed); change_sender: empty (null sender) or an
//                 RFC 5321 mailbox; add_recipient / delete_recipient: an RFC 5321 mailbox; ESMTP
//                 parameters "KEY[=VALUE]" separated by spaces; warn/info text one line;
//                 filter "transport:destination"; redirect an RFC 5321 mailbox.
// Free text that cannot harm (reason, tags, a quarantine reason) is not refused: CleanVerdict
// makes a quarantine reason one line, and logs escape the rest.
#pragma once

#include <string>
#include <string_view>

#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::dispatcher {

inline constexpr int kMaxReplyLines = 16;
// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with the code and CRLF.
inline constexpr size_t kMaxReplyLineOctets = 500;
inline constexpr size_t kMaxCommandOctets = 1000;

// Why a verdict was refused; the name is the counter label.
enum class VerdictProblem {
  kNone,
  kUnknownAction,
  kReplyMissing,
  kReplyCode,
  kReplyClass,
  kEnhancedCode,
  kReplyText,
  kReplyLines,
  kCommandText,
  kNextState,
  kCacheScope,
  kUnknownEdit,
  kHeaderName,
  kHeaderValue,
  kAddress,
  kEsmtpParameters,
  kEditText,
};

// "unknown_action", "reply_class", "address", ... ("" for kNone).
std::string_view VerdictProblemName(VerdictProblem problem);

struct VerdictCheck {
  VerdictProblem problem = VerdictProblem::kNone;
  std::string detail;  // for the outcome's error and the log; may quote worker text, escaped
  bool ok() const { return problem == VerdictProblem::kNone; }
};

// Checks `verdict` (from a worker) against the rules above for `event`.
VerdictCheck ValidateVerdict(const v1::Verdict& verdict, const v1::Event& event);

// The reply a host enforces for a valid verdict: its own reply, or the contract's default for the
// action (REJECT 550 5.7.1, TEMPFAIL 451 4.7.1, DROP_SESSION 421 4.7.0, DEFER_IF_* 450 4.7.1);
// no code when the host
// proceeds natively. For logs: the reply the client actually gets, not what a worker wrote.
v1::SmtpReply EnforcedReply(const v1::Verdict& verdict);

// Repairs what is better kept than refused: a quarantine reason becomes one line of UTF-8.
void CleanVerdict(v1::Verdict* verdict);

}  // namespace smtpbridge::dispatcher
