// The client side of one proxy session as RFC 5321 sees it, free of I/O: which commands the
// state allows and the reply the proxy gives natively (Admit), and how each outcome (the next
// hop's reply, a policy's answer) moves the transaction and what the client gets (After*).
// ClientSession owns the sockets and the sink and asks this class; tests and the
// fuzz_smtp_session target drive it directly with command sequences.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "command_parser.h"
#include "message_edits.h"
#include "proxy_config.h"
#include "smtp_reply.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::proxy {

// Why the client side of a session cannot go on: a read that ended without a line (or chunk
// octets), or the write of the replies before it. An over-long line is none of these: the line
// reader drops its bytes and the session answers it (500 5.5.2 between commands, 554 5.6.0 at
// the end of DATA).
enum class ClientFailure {
  kIdleTimeout,   // no complete line (BDAT: no octets) within timeouts.idle
  kSessionLimit,  // timeouts.session passed
  kShutdown,      // the server drains (SIGTERM, ProxyServer::Stop)
  kPeerClosed,    // EOF, reset, or TLS closed without close_notify
  kTlsError,      // a TLS read or handshake failed: the stream is unusable
  kWriteTimeout,  // the client did not take the replies within timeouts.idle
  kWriteFailed,   // the write of the replies failed or was cancelled part-way
};

// What the session does about a ClientFailure, the same between commands, in DATA and in BDAT.
struct ClientFailureOutcome {
  // The RFC 5321 reply before the close; none when the client cannot take one (gone, TLS
  // broken, or a write that did not complete: another write would land mid-reply, or wait on a
  // client that stopped reading for a second idle timeout). No reply: nothing more is written.
  std::optional<Reply> reply;
  bool timeout = false;  // counted in smtpbridge_proxy_client_timeouts_total
  bool notable = false;  // logged at info (else debug: a client leaving is ordinary)
  std::string_view why;  // for the log
};
ClientFailureOutcome OnClientFailure(ClientFailure failure, const std::string& hostname);

class SessionState {
 public:
  struct Transaction {
    bool open = false;  // the client saw MAIL accepted
    std::string sender;
    std::string sender_params;  // " SIZE=10 BODY=8BITMIME"
    std::vector<std::pair<std::string, std::string>> mail_parameters;
    uint64_t declared_size = 0;
    size_t client_recipients = 0;         // RCPTs the client saw accepted
    std::vector<std::string> recipients;  // ... that the next hop also holds
    bool skip_recipients = false;         // next_state DATA_OR_BDAT: answer RCPT locally
    // Message edits on continuing verdicts of this transaction's events before `_EOD` (a
    // quarantine at RCPT): applied to the message at end of data.
    std::vector<v1::MessageEdit> carried_edits;
  };

  // What the state says about a client command before anything is evaluated or relayed.
  struct Admission {
    Reply native;                // the proxy's own reply (the INBOUND_COMMAND event's response)
    bool refused = false;        // `native` refuses the command: it goes no further
    bool counted = false;        // ... and counts towards max_errors
    bool evented = true;         // INBOUND_COMMAND fires (not for a line without a keyword)
    bool reads_chunk = false;    // BDAT: the chunk's octets follow and are consumed
    uint64_t declared_size = 0;  // MAIL: SIZE=
  };

  // What the next hop said to a relayed command, and what the client gets with verdicts applied.
  struct Relay {
    Reply upstream;
    Reply client;
    bool rewritten = false;  // a SERVER_RESPONSE verdict replaced the reply
  };

  // `tls_available`: STARTTLS is configured.
  SessionState(const ProxyConfig& config, bool tls_available);

  Admission Admit(const Command& cmd) const;
  Reply EhloReply() const;

  // HELO/EHLO admitted: the transaction is reset on both sides (RFC 5321 §4.1.4) while the
  // next hop is greeted.
  void BeginHelo();
  // The next hop answered the greeting: the client's reply; greets the session when accepted.
  Reply AfterHelo(const Reply& native, const Relay& relay);

  // MAIL relayed: the client's reply; opens the transaction when both sides accepted.
  // `carried`: edits on the verdicts of MAIL's own events.
  Reply AfterMail(const Command& cmd, uint64_t declared_size, const Relay& relay,
                  std::vector<v1::MessageEdit>* carried);
  // RCPT relayed: the client's reply; counts the recipient when accepted.
  Reply AfterRcpt(const Command& cmd, const Relay& relay);
  // RCPT acknowledged without the next hop (a policy's 2xx, skip, next_state DATA_OR_BDAT).
  void AcceptRecipientLocally() { ++txn_.client_recipients; }
  // A policy answered MAIL or RCPT itself: a 2xx still moves the client's view.
  void AfterPolicyReply(const Command& cmd, const Reply& reply);

  // The next hop's transaction: opened by MAIL, gone after RSET, EHLO or end of data.
  bool upstream_open() const { return upstream_txn_; }
  const std::string& upstream_sender() const { return upstream_sender_; }
  const std::vector<std::string>& upstream_recipients() const { return upstream_recipients_; }
  void UpstreamReset();
  // ReplayEnvelope: the next hop holds a new transaction for `sender`, and these recipients.
  void UpstreamOpened(const std::string& sender);
  void UpstreamRecipient(const std::string& address) { upstream_recipients_.push_back(address); }
  // Whether the next hop's transaction is exactly `envelope` (the sender with the client's
  // parameters, the same recipients in order, none with parameters): nothing to replay.
  bool UpstreamHolds(const OutboundEnvelope& envelope) const;

  // RSET, end of a message, EHLO: the client's transaction is gone.
  void ResetTransaction();
  // STARTTLS done: the client starts over with EHLO (RFC 3207 §4.2).
  void AfterTls();

  // A verdict's next_state on an outbound event.
  void ApplyNextState(v1::OutboundState state);
  bool close_after_reply() const { return close_after_reply_; }

  void CountError() { ++errors_; }
  bool too_many_errors() const { return errors_ >= max_errors_; }

  // BDAT chunks of the message so far (raw octets); a failed chunk refuses the rest.
  std::string& bdat_buffer() { return bdat_buffer_; }
  void AbandonBdat(bool last_chunk);

  bool greeted() const { return greeted_; }
  bool tls_active() const { return tls_active_; }
  const Transaction& txn() const { return txn_; }
  Transaction& mutable_txn() { return txn_; }

 private:
  const ProxyConfig& config_;
  const bool tls_available_;
  const int max_errors_;
  bool tls_active_ = false;
  bool greeted_ = false;  // HELO/EHLO accepted
  int errors_ = 0;
  bool close_after_reply_ = false;  // next_state SESSION_END
  std::string bdat_buffer_;
  bool bdat_failed_ = false;
  Transaction txn_;
  // What the next hop holds right now.
  bool upstream_txn_ = false;
  std::string upstream_sender_;
  std::vector<std::string> upstream_recipients_;
};

}  // namespace smtpbridge::proxy
