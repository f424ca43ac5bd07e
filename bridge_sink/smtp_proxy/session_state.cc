#include "session_state.h"

#include <optional>

namespace smtpbridge::proxy {

namespace {

const Reply kNeedHelo = MakeReply(503, "5.5.1", "Error: send HELO/EHLO first");
const Reply kNeedMail = MakeReply(503, "5.5.1", "Error: need MAIL command");
const Reply kNested = MakeReply(503, "5.5.1", "Error: nested MAIL command");
const Reply kInTransaction = MakeReply(503, "5.5.1", "Error: MAIL transaction in progress");
const Reply kNoRecipients = MakeReply(554, "5.5.1", "Error: no valid recipients");

}  // namespace

ClientFailureOutcome OnClientFailure(ClientFailure failure, const std::string& hostname) {
  switch (failure) {
    case ClientFailure::kIdleTimeout:
      return {MakeReply(421, "4.4.2", hostname + " Error: timeout exceeded"), true, true,
              "idle timeout"};
    case ClientFailure::kSessionLimit:
      return {MakeReply(421, "4.4.2", hostname + " Error: session time limit exceeded"), true, true,
              "session time limit"};
    case ClientFailure::kShutdown:
      return {MakeReply(421, "4.3.2", hostname + " Service shutting down"), false, false,
              "shutting down"};
    case ClientFailure::kPeerClosed:
      return {std::nullopt, false, false, "client closed the connection"};
    case ClientFailure::kTlsError:
      return {std::nullopt, false, true, "TLS failed"};
    case ClientFailure::kWriteTimeout:
      return {std::nullopt, true, true, "client did not take its replies within the idle timeout"};
    case ClientFailure::kWriteFailed:
      return {std::nullopt, false, false, "write to the client failed"};
  }
  return {std::nullopt, false, true, "unknown client failure"};
}

SessionState::SessionState(const ProxyConfig& config, bool tls_available)
    : config_(config), tls_available_(tls_available), max_errors_(config.limits.max_errors) {}

Reply SessionState::EhloReply() const {
  Reply r{250, "", {config_.hostname}};
  r.lines.push_back("PIPELINING");
  r.lines.push_back("SIZE " + std::to_string(config_.limits.max_message_size));
  r.lines.push_back("8BITMIME");
  r.lines.push_back("ENHANCEDSTATUSCODES");
  if (tls_available_ && !tls_active_) r.lines.push_back("STARTTLS");
  if (config_.chunking) r.lines.push_back("CHUNKING");
  return r;
}

SessionState::Admission SessionState::Admit(const Command& cmd) const {
  Admission a;
  if (cmd.keyword.empty() && cmd.error) {
    // Not even a keyword (control characters, 8-bit bytes, empty line): no event.
    a.native = *cmd.error;
    a.refused = a.counted = true;
    a.evented = false;
    return a;
  }
  std::optional<Reply> error = cmd.error;
  // Each verb checks in its own order: which refusal a client sees when several apply is part
  // of the behaviour (the host vectors pin it).
  switch (cmd.verb) {
    case Verb::kHelo:
    case Verb::kEhlo:
      a.native = error                     ? *error
                 : cmd.verb == Verb::kEhlo ? EhloReply()
                                           : MakeReply(250, "", config_.hostname);
      break;
    case Verb::kMail:
      if (!greeted_) {
        error = kNeedHelo;
      } else if (txn_.open) {
        error = kNested;
      } else if (!error) {
        error = CheckMailParameters(cmd.parameters, true, &a.declared_size);
        if (!error && a.declared_size > config_.limits.max_message_size) {
          error = MakeReply(552, "5.3.4", "Error: message size exceeds fixed limit");
        }
      }
      a.native = error ? *error : MakeReply(250, "2.1.0", "Ok");
      break;
    case Verb::kRcpt:
      if (!greeted_) {
        error = kNeedHelo;
      } else if (!txn_.open) {
        error = kNeedMail;
      } else if (!error && !cmd.parameters.empty()) {
        error = MakeReply(555, "5.5.4",
                          "Error: unsupported RCPT TO parameter " + cmd.parameters.front().first);
      } else if (!error && txn_.client_recipients >= config_.limits.max_recipients) {
        error = MakeReply(452, "4.5.3", "Error: too many recipients");
      }
      a.native = error ? *error : MakeReply(250, "2.1.5", "Ok");
      a.refused = error.has_value();
      a.counted = error && error->klass() == 5;  // "too many recipients" is no client error
      return a;
    case Verb::kData:
      if (!error) {
        if (!greeted_) {
          error = kNeedHelo;
        } else if (!txn_.open) {
          error = kNeedMail;
        } else if (txn_.client_recipients == 0) {
          error = kNoRecipients;
        }
      }
      a.native = error ? *error : MakeReply(354, "", "End data with <CR><LF>.<CR><LF>");
      break;
    case Verb::kBdat:
      if (!config_.chunking || error) {
        // Without a valid size the chunk cannot be delimited: what follows is read as commands,
        // which the proxy parses itself, so nothing reaches the next hop unparsed.
        a.native = error ? *error : MakeReply(502, "5.5.1", "Error: BDAT not supported");
        a.refused = a.counted = true;
        return a;
      }
      // The chunk's octets follow whatever the reply (RFC 3030 §3).
      a.reads_chunk = true;
      if (!greeted_) {
        error = kNeedHelo;
      } else if (!txn_.open) {
        error = kNeedMail;
      } else if (txn_.client_recipients == 0) {
        error = kNoRecipients;
      } else if (bdat_failed_) {
        error = MakeReply(554, "5.5.0", "Error: an earlier BDAT of this message failed");
      }
      a.native = error
                     ? *error
                     : MakeReply(250, "2.0.0", "Ok: " + std::to_string(cmd.chunk_size) + " octets");
      break;
    case Verb::kRset:
      a.native = error ? *error : MakeReply(250, "2.0.0", "Ok");
      break;
    case Verb::kQuit:
      a.native = error ? *error : MakeReply(221, "2.0.0", "Bye");
      break;
    case Verb::kStartTls:
      if (!error) {
        if (!tls_available_) {
          error = MakeReply(502, "5.5.1", "Error: STARTTLS not available");
        } else if (tls_active_) {
          error = MakeReply(503, "5.5.1", "Error: TLS already active");
        } else if (!greeted_) {
          error = kNeedHelo;
        } else if (txn_.open) {
          error = kInTransaction;
        }
      }
      a.native = error ? *error : MakeReply(220, "2.0.0", "Ready to start TLS");
      break;
    default: {
      // Commands the proxy answers itself; none of them reaches the next hop.
      bool is_error = true;
      if (error) {
        a.native = *error;
      } else if (cmd.verb == Verb::kNoop) {
        a.native = MakeReply(250, "2.0.0", "Ok");
        is_error = false;
      } else if (cmd.verb == Verb::kVrfy) {
        a.native = MakeReply(252, "2.5.2",
                             "Cannot VRFY user, but will accept message and attempt delivery");
        is_error = false;
      } else if (cmd.verb == Verb::kExpn) {
        a.native = MakeReply(502, "5.5.1", "Error: EXPN not supported");
      } else if (cmd.verb == Verb::kHelp) {
        a.native = MakeReply(214, "2.0.0", "See RFC 5321");
        is_error = false;
      } else if (cmd.verb == Verb::kAuth) {
        a.native = !greeted_   ? kNeedHelo
                   : txn_.open ? kInTransaction
                               : MakeReply(502, "5.5.1", "Error: authentication not supported");
      } else {
        a.native = MakeReply(500, "5.5.2", "Error: command not recognized");
      }
      a.refused = a.counted = is_error;
      return a;
    }
  }
  a.refused = a.counted = error.has_value();
  return a;
}

void SessionState::BeginHelo() {
  ResetTransaction();
  greeted_ = false;
}

Reply SessionState::AfterHelo(const Reply& native, const Relay& relay) {
  UpstreamReset();
  if (relay.rewritten || !relay.upstream.positive()) {
    greeted_ = relay.client.positive() && relay.upstream.positive();
    return relay.client;
  }
  greeted_ = true;
  return native;
}

Reply SessionState::AfterMail(const Command& cmd, uint64_t declared_size, const Relay& relay,
                              std::vector<v1::MessageEdit>* carried) {
  if (relay.upstream.positive()) {
    upstream_txn_ = true;
    upstream_sender_ = cmd.address;
    upstream_recipients_.clear();
  }
  if (relay.client.positive() && relay.upstream.positive()) {
    txn_ = Transaction{};
    txn_.open = true;
    txn_.carried_edits = std::move(*carried);
    carried->clear();
    txn_.sender = cmd.address;
    txn_.sender_params = FormatParameters(cmd.parameters);
    txn_.mail_parameters = cmd.parameters;
    txn_.declared_size = declared_size;
  }
  // The next hop's refusal reaches the client as it is: a 4xx stays retryable, a 5xx final.
  return relay.client;
}

Reply SessionState::AfterRcpt(const Command& cmd, const Relay& relay) {
  if (relay.upstream.positive()) upstream_recipients_.push_back(cmd.address);
  if (relay.client.positive()) {
    ++txn_.client_recipients;
    if (relay.upstream.positive()) txn_.recipients.push_back(cmd.address);
  }
  return relay.client;
}

void SessionState::AfterPolicyReply(const Command& cmd, const Reply& reply) {
  if (!reply.positive() || cmd.error) return;
  if (cmd.verb == Verb::kMail) {
    txn_.open = true;
    txn_.sender = cmd.address;
    txn_.mail_parameters = cmd.parameters;
  } else if (cmd.verb == Verb::kRcpt && txn_.open) {
    ++txn_.client_recipients;
  }
}

bool SessionState::UpstreamHolds(const OutboundEnvelope& envelope) const {
  if (!upstream_txn_ || envelope.sender != upstream_sender_ ||
      envelope.sender_params != txn_.sender_params ||
      envelope.recipients.size() != upstream_recipients_.size()) {
    return false;
  }
  for (size_t i = 0; i < envelope.recipients.size(); ++i) {
    if (envelope.recipients[i].first != upstream_recipients_[i] ||
        !envelope.recipients[i].second.empty()) {
      return false;
    }
  }
  return true;
}

void SessionState::UpstreamReset() {
  upstream_txn_ = false;
  upstream_recipients_.clear();
}

void SessionState::UpstreamOpened(const std::string& sender) {
  upstream_txn_ = true;
  upstream_sender_ = sender;
}

void SessionState::ResetTransaction() {
  txn_ = Transaction{};
  bdat_buffer_.clear();
  bdat_failed_ = false;
}

void SessionState::AfterTls() {
  tls_active_ = true;
  greeted_ = false;
  ResetTransaction();
}

void SessionState::ApplyNextState(v1::OutboundState state) {
  switch (state) {
    case v1::OUTBOUND_STATE_SESSION_END:
      close_after_reply_ = true;
      break;
    case v1::OUTBOUND_STATE_DATA_OR_BDAT:
      if (txn_.open) txn_.skip_recipients = true;
      break;
    default:
      break;  // the proxy's own sequencing
  }
}

void SessionState::AbandonBdat(bool last_chunk) {
  bdat_buffer_.clear();
  bdat_failed_ = !last_chunk && txn_.open;
}

}  // namespace smtpbridge::proxy
