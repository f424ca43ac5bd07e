#include "session_events.h"

#include <chrono>

#include "verdict_decision.h"

namespace smtpbridge::proxy {

v1::Event NewEvent(v1::EventType type, const v1::SessionContext& session, uint64_t seq,
                   const SessionState::Transaction& txn, const Command* mail) {
  v1::Event event;
  event.set_event_id(session.session_id() + "." + std::to_string(seq));
  event.set_type(type);
  *event.mutable_session() = session;
  auto* env = event.mutable_envelope();
  if (txn.open) {
    env->set_has_sender(true);
    env->set_sender(Utf8Safe(txn.sender));
    for (const auto& [k, v] : txn.mail_parameters) (*env->mutable_mail_parameters())[k] = v;
    for (const auto& r : txn.recipients) env->add_recipients(r);
    env->set_size(txn.declared_size);
  } else if (mail && !mail->error) {
    // MAIL's own events: the path being asked about, as the policy host and test-event fill it.
    env->set_has_sender(true);
    env->set_sender(Utf8Safe(mail->address));
    for (const auto& [k, v] : mail->parameters) {
      (*env->mutable_mail_parameters())[Utf8Safe(k)] = Utf8Safe(v);
    }
  }
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
  event.mutable_time()->set_seconds(ns / 1000000000);
  event.mutable_time()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  return event;
}

void FillInboundCommand(const Command& cmd, const Reply& native, uint32_t recipient_index,
                        v1::Event* event) {
  auto* command = event->mutable_command();
  command->set_keyword(Utf8Safe(cmd.keyword));
  if (cmd.verb == Verb::kAuth) {
    // Never send credentials to the policy: the mechanism only.
    const std::string mechanism = cmd.argument.substr(0, cmd.argument.find(' '));
    command->set_argument(mechanism);
    command->set_line("AUTH " + mechanism);
  } else {
    command->set_argument(Utf8Safe(cmd.argument));
    command->set_line(Utf8Safe(cmd.line));
  }
  if (cmd.verb == Verb::kRcpt) {
    event->mutable_envelope()->set_recipient(Utf8Safe(cmd.address));
    event->mutable_envelope()->set_recipient_index(recipient_index);
  }
  *event->mutable_response() = ToProto(native);
}

void FillOutboundCommand(const std::string& keyword, const std::string& line,
                         uint32_t recipient_index, v1::Event* event) {
  event->mutable_command()->set_keyword(keyword);
  event->mutable_command()->set_argument(
      line.size() > keyword.size() ? line.substr(keyword.size() + 1) : "");
  event->mutable_command()->set_line(line);
  if (event->type() == v1::EVENT_TYPE_PER_RECIPIENT) {
    auto* env = event->mutable_envelope();
    const size_t open = line.find('<');
    const size_t close = line.rfind('>');
    const std::string rcpt =
        open != std::string::npos && close > open ? line.substr(open + 1, close - open - 1) : "";
    env->set_recipient(rcpt);
    env->set_recipient_index(recipient_index);
    env->add_recipients(rcpt);
  }
}

void FillServerResponse(const std::string& keyword, const std::string& line, const Reply& reply,
                        v1::Event* event) {
  event->mutable_command()->set_keyword(keyword);
  event->mutable_command()->set_line(Utf8Safe(line));
  // The command the reply answers, filled as on its own event: argument, and for RCPT the
  // recipient (event.proto's fill rules).
  if (const auto space = line.find(' '); space != std::string::npos) {
    event->mutable_command()->set_argument(Utf8Safe(std::string_view(line).substr(space + 1)));
  }
  if (keyword == "RCPT") {
    const Command parsed = ParseCommand(line);
    if (!parsed.error) event->mutable_envelope()->set_recipient(Utf8Safe(parsed.address));
  }
  *event->mutable_response() = ToProto(reply);
}

void FillEndOfData(const MessageData& message, const Reply& native, size_t body_limit,
                   v1::Event* event) {
  event->mutable_command()->set_keyword("_EOD");
  event->mutable_command()->set_line("_EOD");
  event->mutable_envelope()->set_size(message.size());
  *event->mutable_response() = ToProto(native);
  auto* msg = event->mutable_message();
  for (const auto& [name, value] : message.HeaderValues()) {
    auto* h = msg->add_headers();
    h->set_name(Utf8Safe(name));
    h->set_value(Utf8Safe(value));
  }
  bool truncated = false;
  msg->set_body(message.Body(body_limit, &truncated));
  msg->set_body_truncated(truncated);
  msg->set_size(message.size());
}

}  // namespace smtpbridge::proxy
