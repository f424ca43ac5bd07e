// Verdicts to milter replies: the reply for a step, and at end of message the edits first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "milter/milter_codec.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::milter {

// "550-5.7.1 first\r\n550 5.7.1 last" for SMFIR_REPLYCODE; '%' doubled (libmilter and Sendmail
// treat it as a format character), CR/LF dropped. Empty when `reply` has no code. Always with an
// enhanced code: Postfix refuses a bare code ("554") as a "malformed reply" and applies
// milter_default_action instead (Postfix 2.x also wants the enhanced code as the fifth character);
// a reply without one gets `DefaultEnhancedCode`, one without text the class's default text
// ("Rejected by policy", "Try again later", 421 "Closing connection").
std::string FormatReplyCode(const v1::SmtpReply& reply);

// The enhanced code a reply without one gets (the same on every host): "4.7.0" for 421, "2.0.0"
// for 2xx, else "C.7.1" with C the code's class — what Postfix's own access tables add.
std::string DefaultEnhancedCode(uint32_t code);

// The reply to a step other than end of message:
//   CONTINUE/UNSPECIFIED, SKIP_RECIPIENT, RESPOND 2xx/3xx -> SMFIR_CONTINUE
//   RESPOND 4xx/5xx -> SMFIR_REPLYCODE
//   REJECT  -> SMFIR_REPLYCODE with the 5xx reply, else "550 5.7.1 Rejected by policy"
//   TEMPFAIL -> SMFIR_REPLYCODE with the 4xx reply, else "451 4.7.1 Try again later"
// (the proto's defaults, with the proxy's and the policy host's text). MilterSession applies
// sink::ConformForRelayHost first (DEFER_IF_*, warn/info/filter/redirect, invalid replies).
//   DROP_SESSION -> SMFIR_REPLYCODE 421 (Postfix then hangs up on the client)
Reply StepReply(const v1::Verdict& verdict);

// End of message: when the verdict lets the message through, its edits (only those the MTA
// granted in `actions`) and then SMFIR_CONTINUE, or SMFIR_DISCARD for a discard edit; otherwise
// the reply from StepReply. `skipped` counts edits dropped for lack of a granted action,
// `refused` edits that break the contract's syntax (header name/value, an envelope address that is
// not an RFC 5321 mailbox or malformed ESMTP parameters: never handed to smfi_chgfrom/addrcpt).
// A quarantine reason is made one line, never refused.
std::vector<Reply> EndOfMessageReplies(const v1::Verdict& verdict, uint32_t actions,
                                       int* skipped = nullptr, int* refused = nullptr);

}  // namespace smtpbridge::milter
