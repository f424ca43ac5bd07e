// What a verdict does to the command or reply it was given on, free of I/O: the outbound
// command's fate (sent, possibly rewritten; answered by the policy; dropped; skipped), and the
// reply a SERVER_RESPONSE verdict gives the client instead of the next hop's. ClientSession
// applies the results; tests call these directly. Decide() (verdict_decision.h) is the table
// underneath.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "session_state.h"
#include "smtp_reply.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::proxy {

struct OutboundVerdict {
  enum class Kind {
    kSend,      // send the command (`line`, rewritten when the verdict asked and it was valid)
    kConsumed,  // the policy answered: `client`, nothing goes upstream
    kDropped,   // `client` (421), then close
    kSkipped,   // PER_RECIPIENT skip: acknowledged, never sent upstream
  };
  Kind kind = Kind::kSend;
  Reply client;
  bool rewrite_refused = false;  // the rewrite was not one valid command line: `line` unchanged
};

// A verdict on an outbound event. `line` is the command about to be sent; on kSend it holds
// the line to send. A rewrite must stay one command line: no CR, LF or NUL, within
// `max_command_line` octets with its CRLF.
OutboundVerdict ApplyOutboundVerdict(const v1::Verdict& verdict, std::string_view hostname,
                                     bool allow_skip, size_t max_command_line, std::string* line);

// A verdict on SERVER_RESPONSE for the next hop's `relay->upstream`: sets `relay->client` and
// `rewritten` when it replaces the reply; true when it drops the session (`relay->client` is
// then the 421). A replacement keeps the next hop's class (a 354 only replaces a 3xx of the
// same code); RESPOND/REJECT/TEMPFAIL replace it as Decide() says.
bool ApplyResponseVerdict(const v1::Verdict& verdict, std::string_view hostname,
                          SessionState::Relay* relay);

// Message edits change the message at `_EOD`. Those on a continuing verdict of an earlier event
// of the transaction (a quarantine at RCPT, as Postfix's HOLD allows) are carried there: into
// the open transaction, or for MAIL's own events (`mail_event`) into `mail_edits`, which the
// transaction takes if MAIL succeeds. Before MAIL there is no message: they are refused. Either
// way they leave `verdict`; `_EOD`'s own (`eod`) stay for the caller to apply.
struct CarriedEdits {
  int carried = 0;
  int refused = 0;
};
CarriedEdits CarryEdits(v1::Verdict* verdict, bool eod, bool mail_event,
                        SessionState::Transaction* txn, std::vector<v1::MessageEdit>* mail_edits);

}  // namespace smtpbridge::proxy
