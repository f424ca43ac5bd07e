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
// Every attribute goes into SessionContext.attributes (bytes that are not UTF-8 become '?'); the known ones also into typed
// fields (client, server, helo, TLS, SASL, envelope, size, queue id).
// `session_id` must stay the same for all requests of one SMTP session.
v1::Event EventFromRequest(const PolicyRequest& request, const MappingOptions& options,
                           const std::string& session_id, const std::string& event_id);

// The event keyword for a protocol_state ("" for CONNECT).
std::string KeywordForState(const std::string& protocol_state);

// Verdict -> the value of `action=` (see docs/policy.md for the table):
//   CONTINUE: DUNNO, unless an edit maps: discard -> DISCARD, quarantine -> HOLD,
//             add_header (not at END-OF-MESSAGE) -> PREPEND, add_recipient -> BCC
//   RESPOND 4xx/5xx -> "NNN [X.Y.Z] text"; RESPOND 2xx/3xx -> OK
//   REJECT -> "5NN X.Y.Z text" when the reply is 5xx, else REJECT [text]
//   TEMPFAIL -> "4NN X.Y.Z text" when the reply is 4xx, else DEFER [text]
//   DROP_SESSION -> "421 4.7.0 text" (Postfix hangs up)
// `refused` (optional) counts edits dropped because they break the contract's syntax (a BCC
// address that is not an RFC 5321 mailbox, an invalid PREPEND header).
std::string ActionForVerdict(const v1::Verdict& verdict, const std::string& protocol_state,
                             int* refused = nullptr);

}  // namespace smtpbridge::policy
