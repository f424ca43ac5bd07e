// One client session of the proxy and its one next-hop session: the I/O, the events it fires and
// the verdicts it applies, around the I/O-free RFC 5321 state of session_state.h. Runs as a
// coroutine on its own strand.
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

#include "client_deadline.h"
#include "command_parser.h"
#include "line_reader.h"
#include "next_hop.h"
#include "proxy_context.h"
#include "session_state.h"
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

  using Admission = SessionState::Admission;

  // The outcome of sending one command upstream with its events.
  struct Outbound : SessionState::Relay {
    // upstream: what the next hop said (kReplied); client: what the client gets (verdicts
    // applied), the last words on kDropped/kFailed.
    enum class Kind { kReplied, kConsumed, kDropped, kSkipped, kFailed };
    Kind kind = Kind::kFailed;
  };

  boost::asio::awaitable<void> Run();
  boost::asio::awaitable<Next> Handle(Command cmd);
  boost::asio::awaitable<Next> HandleHelo(const Command& cmd, const Admission& admission);
  boost::asio::awaitable<Next> HandleMail(const Command& cmd, const Admission& admission);
  boost::asio::awaitable<Next> HandleRcpt(const Command& cmd, const Admission& admission);
  boost::asio::awaitable<Next> HandleData(const Command& cmd, const Admission& admission);
  boost::asio::awaitable<Next> HandleBdat(const Command& cmd, const Admission& admission);
  boost::asio::awaitable<Next> HandleRset(const Command& cmd, const Admission& admission);
  boost::asio::awaitable<Next> HandleQuit(const Command& cmd, const Admission& admission);
  boost::asio::awaitable<Next> HandleStartTls(const Command& cmd, const Admission& admission);
  boost::asio::awaitable<Next> Deliver(std::string raw);
  // The client's transaction is over (refused, abandoned, answered by policy, not relayed):
  // both sides start afresh.
  boost::asio::awaitable<Next> EndTransaction();
  boost::asio::awaitable<Next> ResetUpstreamTransaction();
  boost::asio::awaitable<bool> ReplayEnvelope(
      const std::string& sender, const std::string& sender_params,
      std::vector<std::pair<std::string, std::string>>* recipients, Reply* failure);
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
  boost::asio::awaitable<Outbound> SendOutbound(v1::EventType type, std::string line,
                                                const std::string& keyword, bool allow_skip,
                                                std::chrono::milliseconds timeout);
  // SERVER_RESPONSE for `reply` to `line`; fills client/rewritten/kind of `out`.
  boost::asio::awaitable<void> ServerResponse(const std::string& keyword, const std::string& line,
                                              const Reply& reply, Outbound* out);

  // Client I/O. ReadMore and Flush say why the client side cannot go on, or nullopt.
  boost::asio::awaitable<std::optional<ClientFailure>> ReadMore(bool rearm = false);
  boost::asio::awaitable<std::optional<ClientFailure>> Flush();
  // The one client-failure path (command loop, DATA, BDAT, STARTTLS): the reply of
  // OnClientFailure (session_state.h) if any, the metric and log, Close; then kClose.
  boost::asio::awaitable<Next> ClientLost(ClientFailure failure);
  void Send(const Reply& reply);
  void SendError(const Reply& reply);       // counts towards max_errors
  void Answer(const Admission& admission);  // the proxy's own reply, counted when it is an error
  static ClientDeadline::Clock::time_point After(std::chrono::milliseconds budget);
  Reply ClosingReply(std::string_view why) const;
  void FillSessionContext();

  std::shared_ptr<ProxyContext> ctx_;
  const ProxyConfig& config_;
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  ClientDeadline deadline_;  // of the client operation in progress
  boost::asio::steady_timer session_timer_;
  // When the line being read must be complete (idle timeout from its first read); none between
  // lines.
  std::optional<ClientDeadline::Clock::time_point> line_deadline_;
  bool session_expired_ = false;
  // False once the client cannot take more (a write failed or missed its deadline, the peer is
  // gone, TLS broke): nothing more is written, not even a 421 or a TLS close_notify.
  bool client_writable_ = true;
  bool shutdown_requested_ = false;
  NextHop next_hop_;
  LineReader reader_;
  std::string out_;

  // Session state.
  v1::SessionContext session_;
  mutable uint64_t event_seq_ = 0;  // MakeEvent numbers events; logically const
  bool quit_sent_ = false;
  SessionState state_;
  // Edits on the verdicts of a MAIL being handled; the transaction takes them if MAIL succeeds.
  std::vector<v1::MessageEdit> mail_edits_;
  // The MAIL command being handled (its INBOUND_COMMAND and MESSAGE_START events carry its path
  // as envelope.sender before the transaction opens); null otherwise.
  const Command* mail_in_progress_ = nullptr;
};

}  // namespace smtpbridge::proxy
