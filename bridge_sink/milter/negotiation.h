// Option negotiation: from what the bindings want (Sink::Wants) and what the MTA offers, the
// steps to ask for, the no-reply flags for the rest, the actions and the macros to request.
#pragma once

#include <cstdint>

#include "milter/milter_codec.h"
#include "smtpbridge/sink/sink.h"

namespace smtpbridge::milter {

// Which milter steps some enabled binding wants evaluated.
struct Interests {
  bool connect = false;
  bool helo = false;
  bool mail = false;
  bool rcpt = false;
  bool data = false;
  bool unknown = false;
  bool eom = false;
  // Body octets the `_EOD` bindings want (0: headers only).
  uint32_t body_limit = 0;
  bool operator==(const Interests&) const = default;
};

// Asks the sink. helo counts EHLO and HELO; unknown counts any INBOUND_COMMAND binding, since
// an unknown verb can only be matched by name once it arrives.
Interests InterestsFromSink(const sink::Sink& sink, uint32_t instance);

// Every step is received when it is wanted or when a later wanted event needs its context
// (e.g. the recipients for `_EOD`); a received step that is not wanted gets its NR_* flag, so
// the MTA does not wait for it. Headers and body are received only for `_EOD` (body only with a
// body limit) and never answered one by one. Only flags and actions the MTA offered are used.
// Fails (nullopt + error) for an MTA protocol version below 2.
std::optional<OptNegReply> Negotiate(const OptNeg& offer, const Interests& interests,
                                     std::string* error);

// The macro lists requested per stage (SMFIM_*), mapped into the event context.
const std::map<uint32_t, std::string>& RequestedMacros();

}  // namespace smtpbridge::milter
