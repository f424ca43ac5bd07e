// The events a proxy session fires, filled from its state, free of I/O: event.proto's fill
// rules for the proxy host in one place (AUTH never carries credentials, MAIL's own events carry
// its path, RCPT the recipient and its index, every string UTF-8 clean). ClientSession decides
// when to fire them; tests check the fill directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "command_parser.h"
#include "message_data.h"
#include "session_state.h"
#include "smtp_reply.h"
#include "smtpbridge/v1/event.pb.h"

namespace smtpbridge::proxy {

// The common part: id "<session id>.<seq>", type, session context, the envelope of the open
// transaction, or else of the MAIL being handled (`mail`, may be null), the time now.
v1::Event NewEvent(v1::EventType type, const v1::SessionContext& session, uint64_t seq,
                   const SessionState::Transaction& txn, const Command* mail);

// INBOUND_COMMAND for a client command, with the reply the proxy would give.
void FillInboundCommand(const Command& cmd, const Reply& native, uint32_t recipient_index,
                        v1::Event* event);
// An outbound event (SESSION_START, MESSAGE_START, PER_RECIPIENT, BEFORE_DATA, OUTBOUND_COMMAND,
// SESSION_END) for the command `line` about to be sent.
void FillOutboundCommand(const std::string& keyword, const std::string& line,
                         uint32_t recipient_index, v1::Event* event);
// SERVER_RESPONSE: the next hop's `reply` to `line` ("" for the greeting, "." at end of data).
void FillServerResponse(const std::string& keyword, const std::string& line, const Reply& reply,
                        v1::Event* event);
// `_EOD`: the message (headers, body up to `body_limit` octets), before anything goes upstream.
void FillEndOfData(const MessageData& message, const Reply& native, size_t body_limit,
                   v1::Event* event);

}  // namespace smtpbridge::proxy
