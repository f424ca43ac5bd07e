// Postfix policy requests to smtpbridge events, and verdicts to access(5) actions.
#pragma once

#include <cstdint>
#include <string>

#include "policy/policy_request.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::policy {

struct MappingOptions {
  uint32_t instance = 1;
  std::string host_name;  // empty: not set
};

// protocol_state -> event:
//   CONNECT -> CONNECT; EHLO/HELO/MAIL/RCPT/DATA/VRFY/ETRN -> INBOUND_COMMAND with that keyword;
//   END-OF-MESSAGE -> INBOUND_COMMAND `_EOD` (headers and body are not part of the policy
//   protocol; size and queue_id are); anything else -> INBOUND_COMMAND with the state as keyword.
// Every attribute goes into SessionContext.attributes (bytes that are not UTF-8 become '?'); the
// known ones also into typed fields (client, server, helo, TLS, SASL, envelope, size, queue id).
// `session_id` must stay the same for all requests of one SMTP session.
v1::Event EventFromRequest(const PolicyRequest& request, const MappingOptions& options,
                           const std::string& session_id, const std::string& event_id);

// The event keyword for a protocol_state ("" for CONNECT).
std::string KeywordForState(const std::string& protocol_state);

// Verdict -> the value of `action=` (docs/verdicts.md has the table for every host):
//   CONTINUE, SKIP_RECIPIENT: DUNNO, unless an edit maps (the first of): discard -> DISCARD,
//             quarantine -> HOLD, redirect -> REDIRECT, filter -> FILTER, add_header (not at
//             END-OF-MESSAGE) -> PREPEND, add_recipient -> BCC, warn -> WARN, info -> INFO
//   RESPOND 4xx/5xx -> "NNN [X.Y.Z] text"; RESPOND 2xx -> OK
//   REJECT -> the 5xx reply, else "550 5.7.1 Rejected by policy"
//   TEMPFAIL -> the 4xx reply, else "451 4.7.1 Try again later"
//   DROP_SESSION -> the 421 reply, else "421 4.7.0 Closing connection" (Postfix hangs up)
//   DEFER_IF_PERMIT / DEFER_IF_REJECT -> "DEFER_IF_PERMIT text" / "DEFER_IF_REJECT text"
// `refused` (optional) counts what could not be applied: a reply of the wrong class (the
// default replaces it), an unknown action (DUNNO), an invalid edit.
std::string ActionForVerdict(const v1::Verdict& verdict, const std::string& protocol_state,
                             int* refused = nullptr);

}  // namespace smtpbridge::policy
