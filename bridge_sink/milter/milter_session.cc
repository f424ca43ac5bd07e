#include "milter/milter_session.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "core/verdict_text.h"
#include "milter/verdict_mapping.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::milter {
namespace {

using v1::EVENT_TYPE_CONNECT;
using v1::EVENT_TYPE_INBOUND_COMMAND;

// Sendmail writes macro names with or without braces ({client_addr} or client_addr); keep the
// MTA's spelling in the attributes but look both up.
const std::string* Macro(const v1::SessionContext& s, const std::string& bare) {
  const auto& a = s.attributes();
  auto it = a.find("{" + bare + "}");
  if (it != a.end()) return &it->second;
  it = a.find(bare);
  return it != a.end() ? &it->second : nullptr;
}

uint32_t ToU32(const std::string& s) {
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint32_t>(c - '0');
    if (v > 1'000'000) return 0;
  }
  return v;
}

// The typed fields of the context that the macros determine.
void ApplyMacros(v1::SessionContext& s, const std::string& host_name_option) {
  if (const auto* j = Macro(s, "j"); j && host_name_option.empty()) s.set_host_name(*j);
  if (const auto* v = Macro(s, "daemon_addr")) s.mutable_server()->set_address(*v);
  if (const auto* v = Macro(s, "daemon_port")) s.mutable_server()->set_port(ToU32(*v));
  if (s.client().address().empty())
    if (const auto* v = Macro(s, "client_addr")) s.mutable_client()->set_address(*v);
  if (s.client().port() == 0)
    if (const auto* v = Macro(s, "client_port")) s.mutable_client()->set_port(ToU32(*v));
  if (s.client().hostname().empty())
    if (const auto* v = Macro(s, "client_name")) s.mutable_client()->set_hostname(*v);
  if (const auto* v = Macro(s, "tls_version"); v && !v->empty()) {
    auto* tls = s.mutable_tls();
    tls->set_active(true);
    tls->set_protocol(*v);
    if (const auto* c = Macro(s, "cipher")) tls->set_cipher(*c);
    if (const auto* b = Macro(s, "cipher_bits")) tls->set_cipher_bits(ToU32(*b));
    if (const auto* c = Macro(s, "cert_subject")) tls->set_peer_subject(*c);
    if (const auto* c = Macro(s, "cert_issuer")) tls->set_peer_issuer(*c);
  }
  if (const auto* v = Macro(s, "auth_type"); v && !v->empty()) {
    auto* auth = s.mutable_auth();
    auth->set_authenticated(true);
    auth->set_mechanism(*v);
    if (const auto* u = Macro(s, "auth_authen")) auth->set_username(*u);
  }
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string JoinArgs(const std::vector<std::string>& args, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < args.size(); ++i) {
    out += ' ';
    out += args[i];
  }
  return out;
}

v1::Command MakeCommand(const std::string& keyword, const std::string& verb_text,
                        const std::string& argument) {
  v1::Command c;
  c.set_keyword(v1::Utf8Safe(keyword));
  c.set_argument(v1::Utf8Safe(argument));
  c.set_line(v1::Utf8Safe(argument.empty() ? verb_text : verb_text + " " + argument));
  return c;
}

}  // namespace

std::string StripAngleBrackets(const std::string& path) {
  std::string s = path;
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
  return s;
}

MilterSession::MilterSession(const sink::Sink& sink, SessionOptions options, std::string session_id)
    : sink_(sink), options_(std::move(options)), session_base_id_(std::move(session_id)) {
  ResetSession();
}

void MilterSession::ResetSession() {
  session_id_ = connection_sessions_ == 0
                    ? session_base_id_
                    : session_base_id_ + "." + std::to_string(connection_sessions_);
  ++connection_sessions_;
  session_.Clear();
  session_.set_session_id(session_id_);
  session_.set_instance(options_.instance);
  session_.set_host_kind(v1::HOST_KIND_MILTER);
  session_.set_host_name(options_.host_name);
  ResetTransaction();
}

void MilterSession::ResetTransaction() {
  envelope_.Clear();
  carried_edits_.clear();
  headers_.clear();
  body_.clear();
  body_size_ = 0;
  header_size_ = 0;
}

MilterSession::Step MilterSession::Handle(Command command) {
  if (pending_ != Pending::kNone) {
    Step step;
    step.close = true;
    step.error = "command arrived while the previous one awaits its verdict";
    return step;
  }
  if (!negotiated_ && !std::holds_alternative<OptNeg>(command)) {
    Step step;
    step.close = true;
    step.error = "first command is not SMFIC_OPTNEG";
    return step;
  }
  return std::visit(
      [&](auto& c) -> Step {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, OptNeg>) {
          return OnOptNeg(c);
        } else if constexpr (std::is_same_v<T, MacroDefs>) {
          // MTA bytes may be 8-bit: string fields must be UTF-8 (smtp_text.h).
          // Valid text (nearly always) is moved in, not copied by Utf8Safe.
          auto& attributes = *session_.mutable_attributes();
          for (auto& [name, value] : c.macros) {
            std::string key = v1::IsUtf8(name) ? std::move(name) : v1::Utf8Safe(name);
            attributes[std::move(key)] = v1::IsUtf8(value) ? std::move(value) : v1::Utf8Safe(value);
          }
          return {};
        } else if constexpr (std::is_same_v<T, ConnectInfo>) {
          return OnConnect(c);
        } else if constexpr (std::is_same_v<T, Helo>) {
          return OnHelo(c);
        } else if constexpr (std::is_same_v<T, MailFrom>) {
          return OnMail(c);
        } else if constexpr (std::is_same_v<T, RcptTo>) {
          return OnRcpt(c);
        } else if constexpr (std::is_same_v<T, Data>) {
          return OnData();
        } else if constexpr (std::is_same_v<T, HeaderField>) {
          return OnHeader(c);
        } else if constexpr (std::is_same_v<T, EndOfHeaders>) {
          Step step;
          if (!NoReply(step::kNoReplyEoh)) step.replies.push_back(SimpleReply{reply::kContinue});
          return step;
        } else if constexpr (std::is_same_v<T, BodyChunk>) {
          return OnBody(c.data);
        } else if constexpr (std::is_same_v<T, EndOfMessage>) {
          return OnEndOfMessage(c);
        } else if constexpr (std::is_same_v<T, Abort>) {
          ResetTransaction();
          return {};
        } else if constexpr (std::is_same_v<T, Quit>) {
          Step step;
          step.close = true;
          return step;
        } else if constexpr (std::is_same_v<T, QuitNewConnection>) {
          ResetSession();
          return {};
        } else {
          return OnUnknown(c);
        }
      },
      command);
}

MilterSession::Step MilterSession::OnOptNeg(const OptNeg& offer) {
  Step step;
  Interests interests = InterestsFromSink(sink_, options_.instance);
  std::string error;
  auto reply = Negotiate(offer, interests, &error);
  if (!reply) {
    step.close = true;
    step.error = error;
    return step;
  }
  negotiated_ = true;
  protocol_ = reply->protocol;
  actions_ = reply->actions;
  body_limit_ = interests.body_limit;
  step.replies.push_back(*reply);
  return step;
}

v1::Event MilterSession::BaseEvent(v1::EventType type) {
  ApplyMacros(session_, options_.host_name);
  v1::Event event;
  event.set_event_id(session_id_ + "-" + std::to_string(++event_counter_));
  event.set_type(type);
  *event.mutable_session() = session_;
  *event.mutable_envelope() = envelope_;
  *event.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  return event;
}

MilterSession::Step MilterSession::Evaluate(Pending pending, v1::EventType type,
                                            const std::string& keyword, v1::Command command,
                                            uint32_t no_reply_flag, uint32_t reply_code) {
  Step step;
  const bool no_reply = NoReply(no_reply_flag);
  // Ask the sink only when a binding wants it and the MTA waits for the answer.
  if (no_reply || !sink_.Wants(options_.instance, type, keyword)) {
    if (pending == Pending::kRcpt) envelope_.add_recipients(pending_recipient_);
    if (!no_reply) step.replies.push_back(SimpleReply{reply::kContinue});
    return step;
  }
  v1::Event event = BaseEvent(type);
  if (type == EVENT_TYPE_INBOUND_COMMAND) {
    *event.mutable_command() = std::move(command);
    event.mutable_response()->set_code(reply_code);
  }
  step.budget = options_.command_budget;
  step.event = std::move(event);
  pending_ = pending;
  ++stats_.events;
  return step;
}

MilterSession::Step MilterSession::OnConnect(const ConnectInfo& info) {
  auto* client = session_.mutable_client();
  client->set_hostname(v1::Utf8Safe(info.hostname));
  if (info.family == '4' || info.family == '6' || info.family == 'L') {
    client->set_address(v1::Utf8Safe(info.address));
    client->set_port(info.family == 'L' ? 0 : info.port);
  }
  return Evaluate(Pending::kConnect, EVENT_TYPE_CONNECT, "", {}, step::kNoReplyConnect, 0);
}

MilterSession::Step MilterSession::OnHelo(const Helo& helo) {
  // The milter protocol does not say whether the client sent EHLO or HELO; nearly every client
  // says EHLO, so the event is an EHLO.
  session_.set_helo_name(v1::Utf8Safe(helo.name));
  session_.set_esmtp(true);
  return Evaluate(Pending::kHelo, EVENT_TYPE_INBOUND_COMMAND, "EHLO",
                  MakeCommand("EHLO", "EHLO", helo.name), step::kNoReplyHelo, 250);
}

MilterSession::Step MilterSession::OnMail(const MailFrom& mail) {
  ResetTransaction();
  const std::string path = mail.args.empty() ? "<>" : mail.args[0];
  envelope_.set_sender(v1::Utf8Safe(StripAngleBrackets(path)));
  envelope_.set_has_sender(true);
  for (std::size_t i = 1; i < mail.args.size(); ++i) {
    const std::string& p = mail.args[i];
    auto eq = p.find('=');
    std::string key = Upper(p.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : p.substr(eq + 1);
    if (key == "SIZE") envelope_.set_size(ToU32(value));
    (*envelope_.mutable_mail_parameters())[v1::Utf8Safe(key)] = v1::Utf8Safe(value);
  }
  return Evaluate(Pending::kMail, EVENT_TYPE_INBOUND_COMMAND, "MAIL",
                  MakeCommand("MAIL", "MAIL", "FROM:" + path + JoinArgs(mail.args, 1)),
                  step::kNoReplyMail, 250);
}

MilterSession::Step MilterSession::OnRcpt(const RcptTo& rcpt) {
  const std::string path = rcpt.args.empty() ? "<>" : rcpt.args[0];
  pending_recipient_ = v1::Utf8Safe(StripAngleBrackets(path));
  envelope_.set_recipient(pending_recipient_);
  envelope_.set_recipient_index(static_cast<uint32_t>(envelope_.recipients_size()));
  return Evaluate(Pending::kRcpt, EVENT_TYPE_INBOUND_COMMAND, "RCPT",
                  MakeCommand("RCPT", "RCPT", "TO:" + path + JoinArgs(rcpt.args, 1)),
                  step::kNoReplyRcpt, 250);
}

MilterSession::Step MilterSession::OnData() {
  envelope_.clear_recipient();
  envelope_.clear_recipient_index();
  return Evaluate(Pending::kData, EVENT_TYPE_INBOUND_COMMAND, "DATA",
                  MakeCommand("DATA", "DATA", ""), step::kNoReplyData, 354);
}

MilterSession::Step MilterSession::OnUnknown(const UnknownCommand& unknown) {
  std::string line = v1::Utf8Safe(unknown.line);
  auto space = line.find(' ');
  std::string verb = line.substr(0, space);
  std::string argument = space == std::string::npos ? "" : line.substr(space + 1);
  v1::Command command;
  command.set_keyword(Upper(verb));
  command.set_argument(argument);
  command.set_line(line);
  return Evaluate(Pending::kUnknown, EVENT_TYPE_INBOUND_COMMAND, Upper(verb), std::move(command),
                  step::kNoReplyUnknown, 502);
}

MilterSession::Step MilterSession::OnHeader(const HeaderField& header) {
  v1::Header h;
  h.set_name(v1::Utf8Safe(header.name));
  h.set_value(v1::Utf8Safe(header.value));
  header_size_ += header.name.size() + 2 + header.value.size() + 2;
  headers_.push_back(std::move(h));
  Step step;
  if (!NoReply(step::kNoReplyHeader)) step.replies.push_back(SimpleReply{reply::kContinue});
  return step;
}

MilterSession::Step MilterSession::OnBody(const std::string& chunk) {
  body_size_ += chunk.size();
  if (body_.size() < body_limit_)
    body_.append(chunk, 0, std::min<std::size_t>(chunk.size(), body_limit_ - body_.size()));
  Step step;
  if (!NoReply(step::kNoReplyBody)) step.replies.push_back(SimpleReply{reply::kContinue});
  return step;
}

MilterSession::Step MilterSession::OnEndOfMessage(const EndOfMessage& eom) {
  if (!eom.data.empty()) OnBody(eom.data);
  Step step;
  if (!sink_.Wants(options_.instance, EVENT_TYPE_INBOUND_COMMAND, "_EOD")) {
    if (!carried_edits_.empty()) {
      step.replies = FinishMessage(v1::Verdict{});  // what earlier verdicts asked of the message
      return step;
    }
    session_.set_transaction_count(session_.transaction_count() + 1);
    ResetTransaction();
    step.replies.push_back(SimpleReply{reply::kContinue});
    return step;
  }
  v1::Event event = BaseEvent(EVENT_TYPE_INBOUND_COMMAND);
  *event.mutable_command() = MakeCommand("_EOD", "_EOD", "");
  event.mutable_response()->set_code(250);
  auto* message = event.mutable_message();
  for (auto& h : headers_) *message->add_headers() = std::move(h);
  message->set_body(body_);
  message->set_body_truncated(body_.size() < body_size_);
  const uint64_t size = header_size_ + 2 + body_size_;
  message->set_size(size);
  event.mutable_envelope()->set_size(size);
  if (const auto* i = Macro(session_, "i")) message->set_queue_id(*i);
  step.budget = options_.eom_budget;
  step.event = std::move(event);
  pending_ = Pending::kEom;
  ++stats_.events;
  return step;
}

std::vector<Reply> MilterSession::Complete(const sink::Evaluation& evaluation) {
  const Pending pending = pending_;
  pending_ = Pending::kNone;
  // Postfix vocabulary and the contract's defence, the same as the proxy (core/verdict_text.h).
  v1::Verdict verdict = evaluation.verdict;
  const auto conformance = sink::ConformForRelayHost(&verdict);
  if (conformance.refused > 0) {
    stats_.refused_verdicts += static_cast<uint64_t>(conformance.refused);
    spdlog::warn("milter session {}: {} verdict part(s) refused (not applicable by a milter)",
                 session_.session_id(), conformance.refused);
  }
  for (const auto& note : conformance.notes) {
    spdlog::log(note.warn ? spdlog::level::warn : spdlog::level::info,
                "milter session {}: policy {}: {}", session_.session_id(),
                note.warn ? "warning" : "info", v1::EscapeForLog(note.text));
  }
  // The MTA takes milter modifications at end of message alone. Edits on an earlier continuing
  // verdict of the same transaction (a quarantine at RCPT, as Postfix's HOLD allows) are carried
  // there; one before MAIL has no message to apply to, and is refused and counted.
  const bool continues = verdict.action() == v1::ACTION_UNSPECIFIED ||
                         verdict.action() == v1::ACTION_CONTINUE ||
                         verdict.action() == v1::ACTION_SKIP_RECIPIENT;
  if (pending != Pending::kEom && continues && verdict.edits_size() > 0) {
    if (pending == Pending::kMail || pending == Pending::kRcpt || pending == Pending::kData) {
      for (auto& edit : *verdict.mutable_edits()) carried_edits_.push_back(std::move(edit));
    } else {
      stats_.refused_edits += static_cast<uint64_t>(verdict.edits_size());
      spdlog::warn("milter session {}: {} message edit(s) refused (no message before MAIL)",
                   session_.session_id(), verdict.edits_size());
    }
    verdict.clear_edits();
  }
  if (pending == Pending::kEom) return FinishMessage(std::move(verdict));
  Reply reply = StepReply(verdict);
  const auto* simple = std::get_if<SimpleReply>(&reply);
  const bool proceeds = simple && simple->code == reply::kContinue;
  if (pending == Pending::kRcpt && proceeds) envelope_.add_recipients(pending_recipient_);
  if (pending == Pending::kMail && !proceeds) ResetTransaction();
  return {reply};
}

// End of message: the carried edits, then the `_EOD` verdict's own (a verdict that ends the
// message replaces them all).
std::vector<Reply> MilterSession::FinishMessage(v1::Verdict verdict) {
  if (!carried_edits_.empty()) {
    google::protobuf::RepeatedPtrField<v1::MessageEdit> own = std::move(*verdict.mutable_edits());
    verdict.clear_edits();
    for (auto& edit : carried_edits_) *verdict.add_edits() = std::move(edit);
    for (auto& edit : own) *verdict.add_edits() = std::move(edit);
    carried_edits_.clear();
  }
  int skipped = 0;
  int refused = 0;
  auto replies = EndOfMessageReplies(verdict, actions_, &skipped, &refused);
  stats_.skipped_edits += static_cast<uint64_t>(skipped);
  stats_.refused_edits += static_cast<uint64_t>(refused);
  if (refused > 0)
    spdlog::warn("milter session {}: {} message edit(s) refused (invalid header or address)",
                 session_.session_id(), refused);
  // An edit the MTA did not grant in OPTNEG is lost policy: say so, as for a refused one.
  if (skipped > 0) {
    spdlog::warn(
        "milter session {}: {} message edit(s) refused: the MTA did not grant the action in option "
        "negotiation",
        session_.session_id(), skipped);
  }
  session_.set_transaction_count(session_.transaction_count() + 1);
  ResetTransaction();
  return replies;
}

}  // namespace smtpbridge::milter
