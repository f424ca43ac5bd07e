// One client session of the proxy and its one next-hop session: the RFC 5321 state machine,
// the events it fires and the verdicts it applies. Runs as a coroutine on its own strand.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "command_parser.h"
#include "line_reader.h"
#include "next_hop.h"
#include "proxy_context.h"
#include "smtp_reply.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::proxy {

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<ProxyContext> context);
  ~ClientSession();

  void Start();
  // Asks the session to say 421 and close (server shutdown); safe from any thread.
  void RequestShutdown();

 private:
  enum class Next { kContinue, kClose };
  enum class ReadStatus { kOk, kClosed, kTimeout, kShutdown };

  // The outcome of sending one command upstream with its events.
  struct Outbound {
    enum class Kind { kReplied, kConsumed, kDropped, kSkipped, kFailed };
    Kind kind = Kind::kFailed;
    Reply upstream;     // what the next hop said (kReplied)
    Reply client;       // what the client gets (verdicts applied); the last words on kDropped/kFailed
    bool rewritten = false;  // a SERVER_RESPONSE verdict replaced the reply
  };

  struct Transaction {
    bool open = false;  // the client saw MAIL accepted
    std::string sender;
    std::string sender_params;  // " SIZE=10 BODY=8BITMIME"
    std::vector<std::pair<std::string, std::string>> mail_parameters;
    uint64_t declared_size = 0;
    size_t client_recipients = 0;        // RCPTs the client saw accepted
    std::vector<std::string> recipients; // ... that the next hop also holds
    bool skip_recipients = false;        // next_state DATA_OR_BDAT: answer RCPT locally
    // Message edits on continuing verdicts of this transaction's events before `_EOD` (a
    // quarantine at RCPT): applied to the message at end of data.
    std::vector<v1::MessageEdit> carried_edits;
  };

  boost::asio::awaitable<void> Run();
  boost::asio::awaitable<Next> Handle(Command cmd);
  boost::asio::awaitable<Next> HandleHelo(const Command& cmd);
  boost::asio::awaitable<Next> HandleMail(const Command& cmd);
  boost::asio::awaitable<Next> HandleRcpt(const Command& cmd);
  boost::asio::awaitable<Next> HandleData(const Command& cmd);
  boost::asio::awaitable<Next> HandleBdat(const Command& cmd);
  boost::asio::awaitable<Next> HandleRset(const Command& cmd);
  boost::asio::awaitable<Next> HandleQuit(const Command& cmd);
  boost::asio::awaitable<Next> HandleStartTls(const Command& cmd);
  boost::asio::awaitable<Next> Deliver(std::string raw);
  boost::asio::awaitable<Next> ResetUpstreamTransaction();
  boost::asio::awaitable<bool> ReplayEnvelope(const std::string& sender, const std::string& sender_params,
                                              std::vector<std::pair<std::string, std::string>>* recipients,
                                              Reply* failure);
  boost::asio::awaitable<void> Close(std::optional<Reply> last_words);
  boost::asio::awaitable<Next> End(Reply last_words);  // Close, then kClose

  // The one outbound-failure path. The next hop lost or timed out after `keyword` ("_EOD" at end
  // of data): counted, logged, and kFailed with the 421 the client gets.
  Outbound NextHopLost(std::string_view keyword, const std::string& error);
  // The reply a session closes with when `out` ends it (next hop failed, policy dropped), or
  // nullopt when the session goes on.
  static std::optional<Reply> Ending(const Outbound& out);

  // Events.
  bool Wants(v1::EventType type, std::string_view keyword) const;
  v1::Event MakeEvent(v1::EventType type) const;
  boost::asio::awaitable<std::optional<v1::Verdict>> Fire(v1::Event event, bool eod = false);
  // INBOUND_COMMAND for `cmd` with the reply the proxy would give. kContinue: proceed natively.
  boost::asio::awaitable<std::optional<Next>> Inbound(const Command& cmd, const Reply& native);
  boost::asio::awaitable<Outbound> SendOutbound(v1::EventType type, std::string line, const std::string& keyword,
                                                bool allow_skip, std::chrono::milliseconds timeout);
  // SERVER_RESPONSE for `reply` to `line`; fills client/rewritten/kind of `out`.
  boost::asio::awaitable<void> ServerResponse(const std::string& keyword, const std::string& line,
                                              const Reply& reply, Outbound* out);
  void ApplyNextState(v1::OutboundState state);

  // Client I/O.
  boost::asio::awaitable<ReadStatus> ReadMore(bool rearm = false);
  boost::asio::awaitable<bool> Flush();
  void Send(const Reply& reply);
  void SendError(const Reply& reply);  // counts towards max_errors
  void ArmClientTimer();
  void DisarmClientTimer();
  void CancelClientIo();
  Reply ClosingReply(std::string_view why) const;
  Reply EhloReply() const;
  void ResetTransaction();
  void FillSessionContext();

  std::shared_ptr<ProxyContext> ctx_;
  const ProxyConfig& config_;
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  boost::asio::steady_timer client_timer_;
  boost::asio::steady_timer session_timer_;
  uint64_t client_timer_generation_ = 0;
  bool client_timed_out_ = false;
  bool line_timer_armed_ = false;  // the idle deadline of the line being read
  bool session_expired_ = false;
  bool shutdown_requested_ = false;
  NextHop next_hop_;
  LineReader reader_;
  std::string out_;

  // Session state.
  v1::SessionContext session_;
  mutable uint64_t event_seq_ = 0;  // MakeEvent numbers events; logically const
  bool greeted_ = false;  // HELO/EHLO accepted
  int errors_ = 0;
  bool quit_sent_ = false;
  bool close_after_reply_ = false;  // next_state SESSION_END
  std::string bdat_buffer_;         // BDAT chunks so far (raw octets)
  bool bdat_failed_ = false;        // a chunk failed: the rest of the message is refused
  Transaction txn_;
  // Edits on the verdicts of a MAIL being handled; the transaction takes them if MAIL succeeds.
  std::vector<v1::MessageEdit> mail_edits_;
  // The MAIL command being handled (its INBOUND_COMMAND and MESSAGE_START events carry its path
  // as envelope.sender before the transaction opens); null otherwise.
  const Command* mail_in_progress_ = nullptr;
  // What the next hop holds right now.
  bool upstream_txn_ = false;
  std::string upstream_sender_;
  std::vector<std::string> upstream_recipients_;
};

}  // namespace smtpbridge::proxy
