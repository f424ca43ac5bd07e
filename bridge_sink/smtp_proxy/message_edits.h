// Message edits of a transaction's verdicts applied in one place, at end of data: the header
// and body edits to the message, the envelope edits to the envelope the next hop will get.
// Pure, no I/O; edits carried from earlier events come first, then those of `_EOD`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "message_data.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::proxy {

// The envelope as it will be sent to the next hop.
struct OutboundEnvelope {
  std::string sender;
  std::string sender_params;                                    // " SIZE=10 BODY=8BITMIME"
  std::vector<std::pair<std::string, std::string>> recipients;  // address, formatted parameters
};

struct EditsOutcome {
  bool discard = false;              // a discard edit: accept towards the client, relay nothing
  std::vector<std::string> refused;  // why, for each edit not applied (malformed or unsafe)
};

// Applies `edits` in order. A refused edit changes nothing and the others still apply.
EditsOutcome ApplyEdits(const std::vector<v1::MessageEdit>& edits, MessageData* message,
                        OutboundEnvelope* envelope);

}  // namespace smtpbridge::proxy
