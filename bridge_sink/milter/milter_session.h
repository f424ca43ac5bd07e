// One MTA connection's milter state machine, free of I/O: a decoded command goes in, the replies
// to send come out, or an event to evaluate first (then Complete() gives the replies). The
// connection code owns the socket and calls the sink; tests drive this class directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "milter/milter_codec.h"
#include "milter/negotiation.h"
#include "smtpbridge/sink/sink.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::milter {

struct SessionOptions {
  // SMTP virtual server instance the bindings are looked up for.
  uint32_t instance = 1;
  // Budget of a command event (connect, helo, mail, rcpt, data, unknown).
  std::chrono::microseconds command_budget{std::chrono::milliseconds(20)};
  // Budget of `_EOD`.
  std::chrono::microseconds eom_budget{std::chrono::milliseconds(200)};
  // SessionContext.host_name; empty: the MTA's `j` macro.
  std::string host_name;
};

// Counters a session reports to its server (metrics and tests).
struct SessionStats {
  uint64_t events = 0;            // events handed to the sink
  uint64_t skipped_edits = 0;     // edits the MTA did not grant
  uint64_t refused_edits = 0;     // edits that break the contract's syntax (verdict_mapping.h)
  uint64_t refused_verdicts = 0;  // verdict parts a milter cannot apply (core/verdict_text.h)
};

class MilterSession {
 public:
  MilterSession(const sink::Sink& sink, SessionOptions options, std::string session_id);

  struct Step {
    std::vector<Reply> replies;      // to send now (after the evaluation, when there is one)
    std::optional<v1::Event> event;  // evaluate this, then call Complete()
    std::chrono::microseconds budget{0};
    bool close = false;  // close the connection once the replies are sent (quit, bad input)
    std::string error;   // why it closes on a protocol error
  };

  Step Handle(Command command);
  // The replies for the event Handle() returned, given its evaluation.
  std::vector<Reply> Complete(const sink::Evaluation& evaluation);

  const SessionStats& stats() const { return stats_; }
  const std::string& session_id() const { return session_id_; }
  // Negotiated with the MTA (0 until OPTNEG).
  uint32_t protocol() const { return protocol_; }
  uint32_t actions() const { return actions_; }

 private:
  enum class Pending { kNone, kConnect, kHelo, kMail, kRcpt, kData, kUnknown, kEom };

  Step OnOptNeg(const OptNeg& offer);
  Step OnConnect(const ConnectInfo& info);
  Step OnHelo(const Helo& helo);
  Step OnMail(const MailFrom& mail);
  Step OnRcpt(const RcptTo& rcpt);
  Step OnData();
  Step OnHeader(const HeaderField& header);
  Step OnBody(const std::string& chunk);
  Step OnEndOfMessage(const EndOfMessage& eom);
  Step OnUnknown(const UnknownCommand& unknown);
  void ResetTransaction();
  std::vector<Reply> FinishMessage(v1::Verdict verdict);
  void ResetSession();

  // Evaluate `keyword` (of `type`) when a binding wants it, else answer at once (continue, or
  // nothing when the MTA was told not to wait).
  Step Evaluate(Pending pending, v1::EventType type, const std::string& keyword,
                v1::Command command, uint32_t no_reply_flag, uint32_t reply_code);
  v1::Event BaseEvent(v1::EventType type);
  bool NoReply(uint32_t flag) const { return (protocol_ & flag) != 0; }

  const sink::Sink& sink_;
  SessionOptions options_;
  std::string session_base_id_;
  std::string session_id_;
  uint32_t connection_sessions_ = 0;
  uint64_t event_counter_ = 0;

  bool negotiated_ = false;
  uint32_t protocol_ = 0;
  uint32_t actions_ = 0;
  uint32_t body_limit_ = 0;

  v1::SessionContext session_;
  v1::Envelope envelope_;
  std::vector<v1::Header> headers_;
  std::string body_;
  uint64_t body_size_ = 0;
  uint64_t header_size_ = 0;

  Pending pending_ = Pending::kNone;
  // Message edits on continuing verdicts of this transaction before end of message (a
  // quarantine at RCPT): the MTA takes modifications at end of message alone.
  std::vector<v1::MessageEdit> carried_edits_;
  std::string pending_recipient_;
  SessionStats stats_;
};

// "<a@b>" -> "a@b"; anything without brackets is returned trimmed.
std::string StripAngleBrackets(const std::string& path);

}  // namespace smtpbridge::milter
