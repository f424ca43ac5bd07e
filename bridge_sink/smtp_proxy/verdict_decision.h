// What a verdict means for the client: pure mapping from v1::Verdict to the proxy's next step,
// with the defaults the contract gives (reject: 550 5.7.1, tempfail: 451 4.7.1, drop: 421).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "smtp_reply.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/smtp_text.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::proxy {

struct Decision {
  enum class Kind {
    kContinue,  // proceed natively (rewrites, edits, next_state may still apply)
    kReply,     // answer the client with `reply`, do not process the command further
    kDrop,      // answer `reply` (421) and close the session
    kSkip,      // PER_RECIPIENT (and RCPT): do not send this recipient upstream
  };
  Kind kind = Kind::kContinue;
  Reply reply;
};

// `hostname` goes into the default 421 text. `allow_skip`: skip is meaningful for this event.
Decision Decide(const v1::Verdict& verdict, std::string_view hostname, bool allow_skip);

// A verdict's SmtpReply as a Reply; nullopt when it has no code, a code outside 200..599,
// or a line with CR/LF (which would let a policy inject protocol lines).
std::optional<Reply> ToReply(const v1::SmtpReply& reply);
v1::SmtpReply ToProto(const Reply& reply);

// Bytes that are not valid UTF-8 become '?', so proto string fields always serialize (shared by
// every host: smtpbridge/v1/smtp_text.h).
using v1::Utf8Safe;

}  // namespace smtpbridge::proxy
