#include "client_session.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <random>

#include "core/verdict_text.h"
#include "message_collector.h"
#include "message_data.h"
#include "message_edits.h"
#include "session_events.h"
#include "session_verdicts.h"
#include "sink_await.h"
#include "verdict_decision.h"

namespace smtpbridge::proxy {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::awaitable;
using asio::use_awaitable;

namespace {

std::string NewSessionId(uint64_t counter) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%04llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(counter & 0xffff));
  return buf;
}

const Reply kNoRecipients = MakeReply(554, "5.5.1", "Error: no valid recipients");
const Reply kTempNextHop =
    MakeReply(451, "4.4.2", "Error: next hop did not accept the message, try again later");

}  // namespace

ClientSession::ClientSession(asio::ip::tcp::socket socket, std::shared_ptr<ProxyContext> context)
    : ctx_(std::move(context)),
      config_(ctx_->config),
      socket_(std::move(socket)),
      deadline_(socket_),
      session_timer_(socket_.get_executor()),
      next_hop_(socket_.get_executor()),
      reader_(ctx_->config.limits.max_command_line),
      state_(ctx_->config, ctx_->tls != nullptr) {
  ctx_->active_sessions.fetch_add(1);
  ctx_->metrics->sessions.Increment();
  ctx_->metrics->sessions_active.Increment();
}

ClientSession::~ClientSession() {
  ctx_->active_sessions.fetch_sub(1);
  ctx_->metrics->sessions_active.Decrement();
}

void ClientSession::Start() {
  asio::co_spawn(
      socket_.get_executor(), [self = shared_from_this()] { return self->Run(); }, asio::detached);
}

void ClientSession::RequestShutdown() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->shutdown_requested_ = true;
    self->deadline_.Cancel();
  });
}

// ---------------------------------------------------------------------------------------------
// Client I/O: every operation has its own deadline (client_deadline.h)

ClientDeadline::Clock::time_point ClientSession::After(std::chrono::milliseconds budget) {
  return ClientDeadline::Clock::now() + budget;
}

void ClientSession::Send(const Reply& reply) { out_ += reply.Wire(); }

void ClientSession::Answer(const Admission& admission) {
  if (admission.counted) {
    SendError(admission.native);
  } else {
    Send(admission.native);
  }
}

void ClientSession::SendError(const Reply& reply) {
  Send(reply);
  state_.CountError();
}

awaitable<std::optional<ClientFailure>> ClientSession::Flush() {
  if (out_.empty()) co_return std::nullopt;
  std::string bytes;
  bytes.swap(out_);
  if (!client_writable_) co_return ClientFailure::kWriteFailed;
  // A write that the client does not take within the idle timeout ends the session.
  const auto deadline = After(config_.timeouts.idle);
  deadline_.Arm(deadline);
  boost::system::error_code ec;
  if (tls_) {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(*tls_, asio::buffer(bytes), as_tuple(use_awaitable));
  } else {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(socket_, asio::buffer(bytes), as_tuple(use_awaitable));
  }
  // Replies sent: the wait for the next line starts now.
  line_deadline_.reset();
  const ClientDeadline::Status status = deadline_.Done(ec, deadline);
  if (status == ClientDeadline::Status::kOk) co_return std::nullopt;
  // Part of the replies may be out: another write would land mid-reply, and one to a client that
  // stopped reading would wait a second idle timeout.
  client_writable_ = false;
  if (status == ClientDeadline::Status::kTimeout) {
    ctx_->metrics->write_timeouts.Increment();
    co_return ClientFailure::kWriteTimeout;
  }
  co_return ClientFailure::kWriteFailed;
}

awaitable<std::optional<ClientFailure>> ClientSession::ReadMore(bool rearm) {
  // Replies to a pipelined group go out together, once its input is used up (RFC 2920).
  if (auto failure = co_await Flush()) co_return failure;
  if (shutdown_requested_ || ctx_->stopping.load()) co_return ClientFailure::kShutdown;
  if (session_expired_) co_return ClientFailure::kSessionLimit;
  std::array<char, 8192> buf;
  // The idle deadline covers a whole line, not each read: a client dripping one byte at a time
  // cannot hold the session open (a complete line clears it). BDAT octets: progress per read.
  if (!line_deadline_ || rearm) line_deadline_ = After(config_.timeouts.idle);
  const auto deadline = *line_deadline_;
  deadline_.Arm(deadline);
  boost::system::error_code ec;
  size_t n = 0;
  if (tls_) {
    std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
  } else {
    std::tie(ec, n) = co_await socket_.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
  }
  const ClientDeadline::Status status = deadline_.Done(ec, deadline);
  if (shutdown_requested_) co_return ClientFailure::kShutdown;
  if (session_expired_) co_return ClientFailure::kSessionLimit;
  if (status == ClientDeadline::Status::kTimeout) co_return ClientFailure::kIdleTimeout;
  if (status != ClientDeadline::Status::kOk) {
    // stream_truncated (no close_notify) is the peer leaving, not a broken TLS stream.
    if (tls_ && ec.category() == asio::error::get_ssl_category()) {
      spdlog::debug("session {}: TLS read: {}", session_.session_id(), ec.message());
      co_return ClientFailure::kTlsError;
    }
    co_return ClientFailure::kPeerClosed;
  }
  reader_.Append(std::string_view(buf.data(), n));
  co_return std::nullopt;
}

awaitable<ClientSession::Next> ClientSession::ClientLost(ClientFailure failure) {
  ClientFailureOutcome outcome = OnClientFailure(failure, config_.hostname);
  if (outcome.timeout) ctx_->metrics->timeouts.Increment();
  if (!outcome.reply) client_writable_ = false;
  spdlog::log(outcome.notable ? spdlog::level::info : spdlog::level::debug,
              "session {}: closing: {}", session_.session_id(), outcome.why);
  co_await Close(std::move(outcome.reply));
  co_return Next::kClose;
}

Reply ClientSession::ClosingReply(std::string_view why) const {
  return MakeReply(421, "4.4.2", config_.hostname + " " + std::string(why));
}

awaitable<void> ClientSession::Close(std::optional<Reply> last_words) {
  if (last_words) Send(*last_words);
  co_await Flush();
  if (next_hop_.usable() && !quit_sent_) {
    quit_sent_ = true;
    Outbound out = co_await SendOutbound(
        v1::EVENT_TYPE_SESSION_END, "QUIT", "QUIT", false,
        std::min(config_.timeouts.next_hop_reply, std::chrono::milliseconds(2000)));
    (void)out;
  }
  next_hop_.Close();
  boost::system::error_code ignored;
  if (tls_ && client_writable_) {
    // Best effort close_notify, bounded by the idle timeout.
    const auto deadline = After(config_.timeouts.idle);
    deadline_.Arm(deadline);
    auto [ec] = co_await tls_->async_shutdown(as_tuple(use_awaitable));
    deadline_.Done(ec, deadline);
  }
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  session_timer_.cancel();
}

awaitable<ClientSession::Next> ClientSession::End(Reply last_words) {
  co_await Close(std::move(last_words));
  co_return Next::kClose;
}

// ---------------------------------------------------------------------------------------------
// The one outbound-failure path

ClientSession::Outbound ClientSession::NextHopLost(std::string_view keyword,
                                                   const std::string& error) {
  if (session_expired_) {
    // The session limit cancelled the wait for the next hop, which did not fail: the same reply
    // and count as the limit gets while the session waits for the client.
    const ClientFailureOutcome limit =
        OnClientFailure(ClientFailure::kSessionLimit, config_.hostname);
    ctx_->metrics->timeouts.Increment();
    spdlog::info("session {}: closing: {} (waiting for the next hop after '{}')",
                 session_.session_id(), limit.why, keyword);
    Outbound out;
    out.kind = Outbound::Kind::kFailed;
    out.client = *limit.reply;
    return out;
  }
  ctx_->metrics->next_hop_failures.Increment();
  const bool eod = keyword == "_EOD";
  if (eod) {
    spdlog::warn("session {}: next hop failed at end of data: {}", session_.session_id(), error);
  } else {
    spdlog::warn("session {}: next hop failed after '{}': {}", session_.session_id(), keyword,
                 error);
  }
  Outbound out;
  out.kind = Outbound::Kind::kFailed;
  // At end of data the client never got a 2xx for the message: it retries later.
  out.client = ClosingReply(eod ? "Error: next hop connection lost, try again later"
                                : "Error: next hop connection lost");
  return out;
}

std::optional<Reply> ClientSession::Ending(const Outbound& out) {
  if (out.kind == Outbound::Kind::kFailed || out.kind == Outbound::Kind::kDropped)
    return out.client;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Events

bool ClientSession::Wants(v1::EventType type, std::string_view keyword) const {
  const bool wanted = ctx_->sink->Wants(config_.instance, type, keyword);
  if (!wanted) ctx_->metrics->events_skipped.Increment();
  return wanted;
}

void ClientSession::FillSessionContext() {
  boost::system::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  if (!ec) {
    session_.mutable_client()->set_address(remote.address().to_string());
    session_.mutable_client()->set_port(remote.port());
  }
  const auto local = socket_.local_endpoint(ec);
  if (!ec) {
    session_.mutable_server()->set_address(local.address().to_string());
    session_.mutable_server()->set_port(local.port());
  }
  session_.set_session_id(NewSessionId(ctx_->session_counter.fetch_add(1)));
  session_.set_instance(config_.instance);
  session_.set_host_kind(v1::HOST_KIND_SMTP_PROXY);
  session_.set_host_name(config_.hostname);
}

v1::Event ClientSession::MakeEvent(v1::EventType type) const {
  return NewEvent(type, session_, event_seq_++, state_.txn(), mail_in_progress_);
}

awaitable<std::optional<v1::Verdict>> ClientSession::Fire(v1::Event event, bool eod) {
  const auto budget = config_.BudgetFor(event.type(), eod);
  event.mutable_budget()->Clear();
  event.mutable_budget()->set_seconds(budget.count() / 1000);
  event.mutable_budget()->set_nanos(static_cast<int32_t>((budget.count() % 1000) * 1000000));
  ctx_->metrics->events_fired.Increment();
  const std::string id = event.event_id();
  const bool mail_event =
      event.type() == v1::EVENT_TYPE_MESSAGE_START || event.command().keyword() == "MAIL";
  auto evaluation = co_await AwaitEvaluation(
      *ctx_->sink, std::move(event), std::chrono::duration_cast<std::chrono::microseconds>(budget),
      config_.timeouts.sink_grace);
  if (!evaluation) {
    ctx_->metrics->sink_overdue.Increment();
    spdlog::warn("session {}: event {} not answered within budget + grace; continuing",
                 session_.session_id(), id);
    co_return std::nullopt;
  }
  // Postfix vocabulary and the contract's defence, the same as the milter (core/verdict_text.h).
  const auto conformance = sink::ConformForRelayHost(&evaluation->verdict);
  if (conformance.refused > 0) {
    ctx_->metrics->verdicts_refused.Increment(conformance.refused);
    spdlog::warn("session {}: event {}: {} verdict part(s) refused (not applicable by a proxy)",
                 session_.session_id(), id, conformance.refused);
  }
  for (const auto& note : conformance.notes) {
    spdlog::log(note.warn ? spdlog::level::warn : spdlog::level::info,
                "session {}: event {}: policy {}: {}", session_.session_id(), id,
                note.warn ? "warning" : "info", v1::EscapeForLog(note.text));
  }
  // Edits before `_EOD` are carried to end of data, or refused and counted before MAIL rather
  // than lost without a trace.
  const CarriedEdits carried =
      CarryEdits(&evaluation->verdict, eod, mail_event, &state_.mutable_txn(), &mail_edits_);
  if (carried.carried > 0) {
    spdlog::debug("session {}: event {}: {} message edit(s) carried to end of data",
                  session_.session_id(), id, carried.carried);
  }
  if (carried.refused > 0) {
    ctx_->metrics->edits_refused.Increment(carried.refused);
    spdlog::warn("session {}: event {}: {} message edit(s) refused (no message before MAIL)",
                 session_.session_id(), id, carried.refused);
  }
  if (evaluation->verdict.action() > v1::ACTION_CONTINUE) {
    ctx_->metrics->verdicts_enforced.Increment();
    spdlog::debug("session {}: event {} -> {} ({})", session_.session_id(), id,
                  static_cast<int>(evaluation->verdict.action()), evaluation->verdict.reason());
  }
  co_return std::move(evaluation->verdict);
}

awaitable<std::optional<ClientSession::Next>> ClientSession::Inbound(const Command& cmd,
                                                                     const Reply& native) {
  if (!Wants(v1::EVENT_TYPE_INBOUND_COMMAND, cmd.keyword)) co_return std::nullopt;
  v1::Event event = MakeEvent(v1::EVENT_TYPE_INBOUND_COMMAND);
  FillInboundCommand(cmd, native, static_cast<uint32_t>(state_.txn().recipients.size()), &event);
  auto verdict = co_await Fire(std::move(event));
  if (!verdict) co_return std::nullopt;
  const Decision d = Decide(*verdict, config_.hostname, cmd.verb == Verb::kRcpt);
  switch (d.kind) {
    case Decision::Kind::kContinue:
      co_return std::nullopt;
    case Decision::Kind::kDrop:
      co_return co_await End(d.reply);
    case Decision::Kind::kSkip:
      // The recipient is acknowledged but never reaches the next hop.
      Send(native);
      if (native.positive()) state_.AcceptRecipientLocally();
      co_return Next::kContinue;
    case Decision::Kind::kReply:
      if (cmd.verb == Verb::kQuit && d.reply.code == 221) {
        // RESPOND 221 to QUIT: the client gets the policy's text, the session ends as usual.
        co_return co_await End(d.reply);
      }
      Send(d.reply);
      // A 2xx that swallows MAIL or RCPT still moves the client's view of the transaction.
      state_.AfterPolicyReply(cmd, d.reply);
      co_return Next::kContinue;
  }
  co_return std::nullopt;
}

awaitable<void> ClientSession::ServerResponse(const std::string& keyword, const std::string& line,
                                              const Reply& reply, Outbound* out) {
  out->kind = Outbound::Kind::kReplied;
  out->upstream = reply;
  out->client = reply;
  out->rewritten = false;
  if (!Wants(v1::EVENT_TYPE_SERVER_RESPONSE, keyword)) co_return;
  v1::Event event = MakeEvent(v1::EVENT_TYPE_SERVER_RESPONSE);
  FillServerResponse(keyword, line, reply, &event);
  auto verdict = co_await Fire(std::move(event));
  if (!verdict) co_return;
  state_.ApplyNextState(verdict->next_state());
  if (ApplyResponseVerdict(*verdict, config_.hostname, out)) out->kind = Outbound::Kind::kDropped;
}

awaitable<ClientSession::Outbound> ClientSession::SendOutbound(v1::EventType type, std::string line,
                                                               const std::string& keyword,
                                                               bool allow_skip,
                                                               std::chrono::milliseconds timeout) {
  Outbound out;
  if (Wants(type, keyword)) {
    v1::Event event = MakeEvent(type);
    FillOutboundCommand(keyword, line, static_cast<uint32_t>(state_.txn().recipients.size()),
                        &event);
    if (auto verdict = co_await Fire(std::move(event))) {
      OutboundVerdict v = ApplyOutboundVerdict(*verdict, config_.hostname, allow_skip,
                                               config_.limits.max_command_line, &line);
      switch (v.kind) {
        case OutboundVerdict::Kind::kConsumed:
          out.kind = Outbound::Kind::kConsumed;
          out.client = std::move(v.client);
          co_return out;
        case OutboundVerdict::Kind::kDropped:
          out.kind = Outbound::Kind::kDropped;
          out.client = std::move(v.client);
          co_return out;
        case OutboundVerdict::Kind::kSkipped:
          out.kind = Outbound::Kind::kSkipped;
          co_return out;
        case OutboundVerdict::Kind::kSend:
          break;
      }
      if (v.rewrite_refused) {
        ctx_->metrics->edits_refused.Increment();
        spdlog::warn("session {}: outbound rewrite refused (not one valid command line)",
                     session_.session_id());
      }
      state_.ApplyNextState(verdict->next_state());
    }
  }
  auto result = co_await next_hop_.Command(line, timeout);
  if (!result.ok) co_return NextHopLost(keyword, result.error);
  co_await ServerResponse(keyword, line, result.reply, &out);
  co_return out;
}

// ---------------------------------------------------------------------------------------------
// The session

awaitable<void> ClientSession::Run() {
  auto self = shared_from_this();
  deadline_.set_owner(self);
  // However the session ends, its session timer (which holds `self`) must not keep it alive.
  struct CancelOnExit {
    asio::steady_timer& timer;
    ~CancelOnExit() { timer.cancel(); }
  } cancel_on_exit{session_timer_};
  FillSessionContext();
  session_timer_.expires_after(config_.timeouts.session);
  session_timer_.async_wait([this, self](const boost::system::error_code& ec) {
    if (ec) return;
    session_expired_ = true;
    deadline_.Cancel();
    next_hop_.Cancel();
  });
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);

  // CONNECT: before the banner, before the next hop is contacted.
  if (Wants(v1::EVENT_TYPE_CONNECT, "")) {
    v1::Event event = MakeEvent(v1::EVENT_TYPE_CONNECT);
    *event.mutable_response() =
        ToProto(MakeReply(220, "", config_.hostname + " " + config_.banner));
    if (auto verdict = co_await Fire(std::move(event))) {
      Decision d = Decide(*verdict, config_.hostname, false);
      if (d.kind == Decision::Kind::kDrop ||
          (d.kind == Decision::Kind::kReply && !d.reply.positive())) {
        co_await Close(d.reply);
        co_return;
      }
    }
  }

  auto greeting = co_await next_hop_.Connect(ctx_->next_hop, config_.timeouts.next_hop_connect);
  if (!greeting.ok) {
    ctx_->metrics->next_hop_failures.Increment();
    spdlog::warn("session {}: next hop {}: {}", session_.session_id(), config_.next_hop,
                 greeting.error);
    co_await Close(
        MakeReply(421, "4.4.1", config_.hostname + " Service not available, next hop unreachable"));
    co_return;
  }
  Outbound banner;
  co_await ServerResponse("", "", greeting.reply, &banner);
  if (auto last_words = Ending(banner)) {
    co_await Close(std::move(*last_words));
    co_return;
  }
  if (greeting.reply.code != 220) {
    // A next hop that does not greet cannot take mail now: the client retries later.
    co_await Close(
        MakeReply(421, "4.3.2", config_.hostname + " Service not available, next hop not ready"));
    co_return;
  }
  Send(banner.rewritten && banner.client.code == 220
           ? banner.client
           : MakeReply(220, "", config_.hostname + " " + config_.banner));

  while (true) {
    std::optional<Line> line = reader_.Next();
    if (line) line_deadline_.reset();
    if (!line) {
      if (auto failure = co_await ReadMore()) {
        co_await ClientLost(*failure);
        co_return;
      }
      continue;
    }
    ctx_->metrics->commands.Increment();
    Next next;
    if (line->too_long) {
      SendError(MakeReply(500, "5.5.2", "Error: line too long"));
      next = Next::kContinue;
    } else if (line->bare_cr_or_lf) {
      // RFC 5321 §2.3.8: only CRLF ends a line; a bare CR or LF is never taken as one.
      SendError(MakeReply(500, "5.5.2", "Error: bare CR or LF in command"));
      next = Next::kContinue;
    } else {
      next = co_await Handle(ParseCommand(line->text));
    }
    if (next == Next::kClose) co_return;
    if (state_.close_after_reply()) {
      co_await Close(MakeReply(421, "4.3.0", config_.hostname + " Session ended by policy"));
      co_return;
    }
    if (state_.too_many_errors()) {
      co_await Close(MakeReply(421, "4.7.0", config_.hostname + " Error: too many errors"));
      co_return;
    }
  }
}

awaitable<ClientSession::Next> ClientSession::Handle(Command cmd) {
  const SessionState::Admission admission = state_.Admit(cmd);
  if (!admission.evented) {
    Answer(admission);
    co_return Next::kContinue;
  }
  switch (cmd.verb) {
    case Verb::kHelo:
    case Verb::kEhlo:
      co_return co_await HandleHelo(cmd, admission);
    case Verb::kMail:
      co_return co_await HandleMail(cmd, admission);
    case Verb::kRcpt:
      co_return co_await HandleRcpt(cmd, admission);
    case Verb::kData:
      co_return co_await HandleData(cmd, admission);
    case Verb::kBdat:
      co_return co_await HandleBdat(cmd, admission);
    case Verb::kRset:
      co_return co_await HandleRset(cmd, admission);
    case Verb::kQuit:
      co_return co_await HandleQuit(cmd, admission);
    case Verb::kStartTls:
      co_return co_await HandleStartTls(cmd, admission);
    default:
      break;
  }
  // Commands the proxy answers itself; none of them reaches the next hop.
  if (auto handled = co_await Inbound(cmd, admission.native)) co_return *handled;
  Answer(admission);
  co_return Next::kContinue;
}

awaitable<ClientSession::Next> ClientSession::HandleHelo(const Command& cmd,
                                                         const Admission& admission) {
  const bool ehlo = cmd.verb == Verb::kEhlo;
  if (auto handled = co_await Inbound(cmd, admission.native)) co_return *handled;
  if (admission.refused) {
    Answer(admission);
    co_return Next::kContinue;
  }
  state_.BeginHelo();
  session_.set_helo_name(cmd.domain);
  session_.set_esmtp(ehlo);
  Outbound out = co_await SendOutbound(v1::EVENT_TYPE_SESSION_START, "EHLO " + cmd.domain, "EHLO",
                                       false, config_.timeouts.next_hop_reply);
  if (out.kind == Outbound::Kind::kReplied && out.upstream.klass() == 5 && !out.rewritten) {
    // A next hop without ESMTP: fall back to HELO.
    out = co_await SendOutbound(v1::EVENT_TYPE_OUTBOUND_COMMAND, "HELO " + cmd.domain, "HELO",
                                false, config_.timeouts.next_hop_reply);
  }
  if (auto last_words = Ending(out)) co_return co_await End(std::move(*last_words));
  if (out.kind == Outbound::Kind::kConsumed) {
    SendError(out.client);
    co_return Next::kContinue;
  }
  if (out.upstream.positive()) next_hop_.NoteEhloReply(out.upstream);
  Send(state_.AfterHelo(admission.native, out));
  co_return Next::kContinue;
}

awaitable<ClientSession::Next> ClientSession::EndTransaction() {
  state_.ResetTransaction();
  co_return co_await ResetUpstreamTransaction();
}

awaitable<ClientSession::Next> ClientSession::ResetUpstreamTransaction() {
  if (!state_.upstream_open()) co_return Next::kContinue;
  Outbound out = co_await SendOutbound(v1::EVENT_TYPE_OUTBOUND_COMMAND, "RSET", "RSET", false,
                                       config_.timeouts.next_hop_reply);
  if (out.kind == Outbound::Kind::kReplied && !out.upstream.positive()) {
    // A next hop that cannot reset cannot be trusted with the next transaction.
    out = NextHopLost("RSET", "RSET refused: " + out.upstream.Text());
  }
  if (auto last_words = Ending(out)) co_return co_await End(std::move(*last_words));
  if (out.kind == Outbound::Kind::kReplied) state_.UpstreamReset();
  co_return Next::kContinue;
}

awaitable<ClientSession::Next> ClientSession::HandleMail(const Command& cmd,
                                                         const Admission& admission) {
  struct MailInProgress {
    const Command** slot;
    ~MailInProgress() { *slot = nullptr; }
  } in_progress{&mail_in_progress_};
  mail_in_progress_ = &cmd;
  mail_edits_.clear();
  if (auto handled = co_await Inbound(cmd, admission.native)) co_return *handled;
  if (admission.refused) {
    Answer(admission);
    co_return Next::kContinue;
  }
  if (co_await ResetUpstreamTransaction() == Next::kClose) co_return Next::kClose;
  Outbound out = co_await SendOutbound(v1::EVENT_TYPE_MESSAGE_START, cmd.Canonical(), "MAIL", false,
                                       config_.timeouts.next_hop_reply);
  if (auto last_words = Ending(out)) co_return co_await End(std::move(*last_words));
  if (out.kind == Outbound::Kind::kConsumed) {
    Send(out.client);
    co_return Next::kContinue;
  }
  Send(state_.AfterMail(cmd, admission.declared_size, out, &mail_edits_));
  co_return Next::kContinue;
}

awaitable<ClientSession::Next> ClientSession::HandleRcpt(const Command& cmd,
                                                         const Admission& admission) {
  if (auto handled = co_await Inbound(cmd, admission.native)) co_return *handled;
  if (admission.refused) {
    Answer(admission);
    co_return Next::kContinue;
  }
  if (state_.txn().skip_recipients) {
    // next_state DATA_OR_BDAT: acknowledged here, not sent upstream.
    Send(admission.native);
    state_.AcceptRecipientLocally();
    co_return Next::kContinue;
  }
  Outbound out = co_await SendOutbound(v1::EVENT_TYPE_PER_RECIPIENT, cmd.Canonical(), "RCPT", true,
                                       config_.timeouts.next_hop_reply);
  if (auto last_words = Ending(out)) co_return co_await End(std::move(*last_words));
  switch (out.kind) {
    case Outbound::Kind::kConsumed:
      Send(out.client);
      if (out.client.positive()) state_.AcceptRecipientLocally();
      co_return Next::kContinue;
    case Outbound::Kind::kSkipped:
      Send(admission.native);
      state_.AcceptRecipientLocally();
      co_return Next::kContinue;
    default:
      break;
  }
  Send(state_.AfterRcpt(cmd, out));
  co_return Next::kContinue;
}

awaitable<ClientSession::Next> ClientSession::HandleRset(const Command& cmd,
                                                         const Admission& admission) {
  if (auto handled = co_await Inbound(cmd, admission.native)) co_return *handled;
  if (admission.refused) {
    Answer(admission);
    co_return Next::kContinue;
  }
  state_.ResetTransaction();
  if (co_await ResetUpstreamTransaction() == Next::kClose) co_return Next::kClose;
  Send(admission.native);
  co_return Next::kContinue;
}

awaitable<ClientSession::Next> ClientSession::HandleQuit(const Command& cmd,
                                                         const Admission& admission) {
  if (auto handled = co_await Inbound(cmd, admission.native)) co_return *handled;
  if (admission.refused) {
    Answer(admission);
    co_return Next::kContinue;
  }
  co_return co_await End(admission.native);
}

awaitable<ClientSession::Next> ClientSession::HandleStartTls(const Command& cmd,
                                                             const Admission& admission) {
  if (auto handled = co_await Inbound(cmd, admission.native)) co_return *handled;
  if (admission.refused) {
    Answer(admission);
    co_return Next::kContinue;
  }
  Send(admission.native);
  if (auto failure = co_await Flush()) co_return co_await ClientLost(*failure);
  // RFC 3207 §4.2 / CVE-2011-0411: whatever the client pipelined after STARTTLS was sent in
  // plaintext and is discarded, never executed inside the TLS session.
  if (reader_.buffered() > 0) {
    spdlog::info("session {}: discarding {} plaintext octets pipelined after STARTTLS",
                 session_.session_id(), reader_.buffered());
  }
  reader_.Clear();
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *ctx_->tls);
  const auto deadline = After(config_.timeouts.tls_handshake);
  deadline_.Arm(deadline);
  auto [ec] =
      co_await tls_->async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
  const ClientDeadline::Status handshake = deadline_.Done(ec, deadline);
  if (ec) {
    // No SMTP reply fits a half-made TLS stream; the next hop still gets QUIT (SESSION_END).
    spdlog::info("session {}: TLS handshake failed: {}", session_.session_id(),
                 handshake == ClientDeadline::Status::kTimeout ? "timed out" : ec.message());
    co_return co_await ClientLost(ClientFailure::kTlsError);
  }
  SSL* ssl = tls_->native_handle();
  auto* tls_state = session_.mutable_tls();
  tls_state->set_active(true);
  tls_state->set_protocol(SSL_get_version(ssl));
  tls_state->set_cipher(SSL_get_cipher_name(ssl));
  tls_state->set_cipher_bits(static_cast<uint32_t>(SSL_get_cipher_bits(ssl, nullptr)));
  // The client starts over with EHLO; the proxy forgets what it learned in plaintext.
  state_.AfterTls();
  session_.clear_helo_name();
  session_.set_esmtp(false);
  co_return Next::kContinue;
}

awaitable<ClientSession::Next> ClientSession::HandleBdat(const Command& cmd,
                                                         const Admission& admission) {
  if (!admission.reads_chunk) {
    if (auto handled = co_await Inbound(cmd, admission.native)) co_return *handled;
    Answer(admission);
    co_return Next::kContinue;
  }
  const std::optional<Next> handled = co_await Inbound(cmd, admission.native);
  if (handled == Next::kClose) co_return Next::kClose;

  // The chunk's octets follow whatever the reply (RFC 3030 §3): consume them exactly, so they
  // are never parsed as commands. Octets beyond the size limit are read and dropped.
  bool too_big = false;
  uint64_t remaining = cmd.chunk_size;
  while (true) {
    std::string part = reader_.TakeRaw(static_cast<size_t>(std::min<uint64_t>(remaining, 1 << 20)));
    remaining -= part.size();
    if (!too_big && state_.bdat_buffer().size() + part.size() <= config_.limits.max_message_size) {
      state_.bdat_buffer() += part;
    } else {
      too_big = true;
    }
    if (remaining == 0) break;
    // Chunk octets: progress per read. Cut short, the next hop gets no message.
    if (auto failure = co_await ReadMore(/*rearm=*/true)) co_return co_await ClientLost(*failure);
  }

  line_deadline_.reset();
  auto abandon = [this](bool last) -> awaitable<Next> {
    state_.AbandonBdat(last);
    if (!last) co_return Next::kContinue;
    co_return co_await EndTransaction();
  };
  if (handled) co_return co_await abandon(cmd.last_chunk);  // the policy answered this BDAT
  if (admission.refused) {
    Answer(admission);
    co_return co_await abandon(cmd.last_chunk);
  }
  if (too_big) {
    ctx_->metrics->messages_refused.Increment();
    Send(MakeReply(552, "5.3.4", "Error: message size exceeds fixed limit"));
    co_return co_await abandon(cmd.last_chunk);
  }
  if (!cmd.last_chunk) {
    Send(admission.native);
    co_return Next::kContinue;
  }
  std::string message;
  message.swap(state_.bdat_buffer());
  if (const std::optional<Reply> refused = ChunkedToData(&message)) {
    ctx_->metrics->messages_refused.Increment();
    Send(*refused);
    co_return co_await abandon(true);
  }
  co_return co_await Deliver(std::move(message));
}

awaitable<ClientSession::Next> ClientSession::HandleData(const Command& cmd,
                                                         const Admission& admission) {
  if (auto handled = co_await Inbound(cmd, admission.native)) co_return *handled;
  if (admission.refused) {
    Answer(admission);
    co_return Next::kContinue;
  }
  Send(admission.native);

  // Collect the message exactly as sent (dot-stuffed); nothing goes upstream before the end.
  reader_.set_limit(config_.limits.max_text_line);
  DataCollector collector(config_.limits.max_message_size);
  while (true) {
    std::optional<Line> line = reader_.Next();
    if (line) line_deadline_.reset();
    if (!line) {
      // Unterminated data: the next hop never saw DATA, so it gets no message.
      if (auto failure = co_await ReadMore()) co_return co_await ClientLost(*failure);
      continue;
    }
    if (collector.Add(*line)) break;
  }
  reader_.set_limit(config_.limits.max_command_line);
  if (const std::optional<Reply> refused = collector.Refusal()) {
    ctx_->metrics->messages_refused.Increment();
    Send(*refused);
    co_return co_await EndTransaction();
  }
  co_return co_await Deliver(collector.Take());
}

awaitable<bool> ClientSession::ReplayEnvelope(
    const std::string& sender, const std::string& sender_params,
    std::vector<std::pair<std::string, std::string>>* recipients, Reply* failure) {
  // The envelope changed after the next hop saw it: start the transaction over there. These
  // commands fire no events (their originals already did).
  // A next hop lost on the way takes the one outbound-failure path (counted, logged, the 421).
  if (state_.upstream_open()) {
    auto r = co_await next_hop_.Command("RSET", config_.timeouts.next_hop_reply);
    if (!r.ok) {
      *failure = NextHopLost("_EOD", r.error).client;
      co_return false;
    }
    if (!r.reply.positive()) {
      *failure = kTempNextHop;
      co_return false;
    }
    state_.UpstreamReset();
  }
  auto mail = co_await next_hop_.Command("MAIL FROM:<" + sender + ">" + sender_params,
                                         config_.timeouts.next_hop_reply);
  if (!mail.ok) {
    *failure = NextHopLost("_EOD", mail.error).client;
    co_return false;
  }
  if (!mail.reply.positive()) {
    *failure = mail.reply;
    co_return false;
  }
  state_.UpstreamOpened(sender);
  std::vector<std::pair<std::string, std::string>> accepted;
  Reply last_refusal = kNoRecipients;
  for (const auto& [address, params] : *recipients) {
    auto rcpt = co_await next_hop_.Command("RCPT TO:<" + address + ">" + params,
                                           config_.timeouts.next_hop_reply);
    if (!rcpt.ok) {
      *failure = NextHopLost("_EOD", rcpt.error).client;
      co_return false;
    }
    if (rcpt.reply.positive()) {
      accepted.emplace_back(address, params);
      state_.UpstreamRecipient(address);
    } else {
      spdlog::info("session {}: next hop refused replayed recipient <{}>: {}",
                   session_.session_id(), address, rcpt.reply.Text());
      last_refusal = rcpt.reply;
    }
  }
  if (accepted.empty()) {
    *failure = last_refusal;
    co_return false;
  }
  *recipients = std::move(accepted);
  co_return true;
}

awaitable<ClientSession::Next> ClientSession::Deliver(std::string raw) {
  MessageData message(std::move(raw));
  const Reply native = MakeReply(250, "2.0.0", "Ok: queued");
  auto& txn = state_.mutable_txn();
  OutboundEnvelope envelope{txn.sender, txn.sender_params, {}};
  for (const auto& r : txn.recipients) envelope.recipients.emplace_back(r, "");
  // Edits on earlier events' verdicts in this transaction (a quarantine at RCPT) apply here, with
  // or without an `_EOD` binding: the MTA side can only change the message now.
  std::vector<v1::MessageEdit> edits = std::move(txn.carried_edits);

  // `_EOD`: the message, before anything of it goes upstream.
  if (Wants(v1::EVENT_TYPE_INBOUND_COMMAND, "_EOD")) {
    v1::Event event = MakeEvent(v1::EVENT_TYPE_INBOUND_COMMAND);
    FillEndOfData(message, native, ctx_->sink->BodyLimit(config_.instance), &event);
    if (auto verdict = co_await Fire(std::move(event), true)) {
      const Decision d = Decide(*verdict, config_.hostname, false);
      if (d.kind == Decision::Kind::kDrop) {
        ctx_->metrics->messages_refused.Increment();
        co_return co_await End(d.reply);
      }
      if (d.kind == Decision::Kind::kReply) {
        // The policy answered: the next hop never sees this message.
        ctx_->metrics->messages_refused.Increment();
        Send(d.reply);
        if (d.reply.positive()) session_.set_transaction_count(session_.transaction_count() + 1);
        co_return co_await EndTransaction();
      }
      // The policy's edits at `_EOD` apply after those carried from earlier events.
      for (const auto& edit : verdict->edits()) edits.push_back(edit);
    }
  }

  const EditsOutcome applied = ApplyEdits(edits, &message, &envelope);
  for (const auto& why : applied.refused) {
    ctx_->metrics->edits_refused.Increment();
    spdlog::warn("session {}: message edit refused: {}", session_.session_id(), why);
  }
  const bool discard = applied.discard;
  auto& recipients = envelope.recipients;

  if (discard || recipients.empty()) {
    // Accepted towards the client and dropped, as the policy asked (discard, or every recipient
    // skipped or deleted).
    spdlog::info("session {}: message {} by policy", session_.session_id(),
                 discard ? "discarded" : "has no recipients left");
    Send(native);
    session_.set_transaction_count(session_.transaction_count() + 1);
    co_return co_await EndTransaction();
  }

  // The envelope changed since the next hop saw it (edits, skipped recipients): replay it.
  if (!state_.UpstreamHolds(envelope)) {
    Reply failure;
    if (!co_await ReplayEnvelope(envelope.sender, envelope.sender_params, &recipients, &failure)) {
      if (!next_hop_.usable()) co_return co_await End(std::move(failure));  // NextHopLost's 421
      Send(failure);
      co_return co_await EndTransaction();
    }
  }

  Outbound data = co_await SendOutbound(v1::EVENT_TYPE_BEFORE_DATA, "DATA", "DATA", false,
                                        config_.timeouts.next_hop_reply);
  if (auto last_words = Ending(data)) co_return co_await End(std::move(*last_words));
  if (data.kind == Outbound::Kind::kConsumed) {
    ctx_->metrics->messages_refused.Increment();
    Send(data.client);
    co_return co_await EndTransaction();
  }
  if (data.upstream.code != 354) {
    // The next hop refused DATA: the client gets its reply (a 4xx stays retryable).
    Send(data.client.positive() ? kTempNextHop : data.client);
    co_return co_await EndTransaction();
  }
  auto result =
      co_await next_hop_.SendRaw(message.Wire() + ".\r\n", config_.timeouts.next_hop_data);
  if (!result.ok) {
    // Nothing lost: the client never got a 2xx and retries.
    co_return co_await End(NextHopLost("_EOD", result.error).client);
  }
  state_.UpstreamReset();
  Outbound final_reply;
  co_await ServerResponse("_EOD", ".", result.reply, &final_reply);
  if (result.reply.positive()) {
    ctx_->metrics->messages_relayed.Increment();
    session_.set_transaction_count(session_.transaction_count() + 1);
  }
  state_.ResetTransaction();
  if (auto last_words = Ending(final_reply)) co_return co_await End(std::move(*last_words));
  // Never a 2xx the next hop did not give: a rewrite may change the text, not turn a refusal
  // into an acceptance, or the message would be lost.
  if (final_reply.client.positive() && !result.reply.positive()) final_reply.client = result.reply;
  Send(final_reply.client);
  co_return Next::kContinue;
}

}  // namespace smtpbridge::proxy
