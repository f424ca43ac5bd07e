#include "milter/negotiation.h"

#include <algorithm>

namespace smtpbridge::milter {

Interests InterestsFromSink(const sink::Sink& sink, uint32_t instance) {
  using v1::EVENT_TYPE_CONNECT;
  using v1::EVENT_TYPE_INBOUND_COMMAND;
  Interests in;
  in.connect = sink.Wants(instance, EVENT_TYPE_CONNECT, "");
  in.helo = sink.Wants(instance, EVENT_TYPE_INBOUND_COMMAND, "EHLO") ||
            sink.Wants(instance, EVENT_TYPE_INBOUND_COMMAND, "HELO");
  in.mail = sink.Wants(instance, EVENT_TYPE_INBOUND_COMMAND, "MAIL");
  in.rcpt = sink.Wants(instance, EVENT_TYPE_INBOUND_COMMAND, "RCPT");
  in.data = sink.Wants(instance, EVENT_TYPE_INBOUND_COMMAND, "DATA");
  in.unknown = sink.Wants(instance, EVENT_TYPE_INBOUND_COMMAND, "");
  in.eom = sink.Wants(instance, EVENT_TYPE_INBOUND_COMMAND, "_EOD");
  in.body_limit = in.eom ? sink.BodyLimit(instance) : 0;
  return in;
}

const std::map<uint32_t, std::string>& RequestedMacros() {
  static const std::map<uint32_t, std::string> kMacros = {
      {stage::kConnect,
       "j _ v {daemon_name} {daemon_addr} {daemon_port} {client_addr} {client_port} "
       "{client_name} {client_ptr} {client_connections}"},
      {stage::kHelo, "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}"},
      {stage::kEnvFrom,
       "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}"},
      {stage::kEnvRcpt, "i {rcpt_addr} {rcpt_host} {rcpt_mailer}"},
      {stage::kData, "i"},
      {stage::kEoh, "i"},
      {stage::kEom, "i"},
  };
  return kMacros;
}

std::optional<OptNegReply> Negotiate(const OptNeg& offer, const Interests& in, std::string* error) {
  if (offer.version < 2) {
    if (error)
      *error = "MTA offers milter protocol version " + std::to_string(offer.version) + " (< 2)";
    return std::nullopt;
  }
  // What later events need as context.
  const bool after_rcpt = in.data || in.eom;
  const bool after_mail = in.rcpt || after_rcpt;
  const bool after_helo = in.mail || after_mail || in.unknown;
  const bool after_connect = in.helo || after_helo;

  const bool get_connect = in.connect || after_connect;
  const bool get_helo = in.helo || after_helo;
  const bool get_mail = in.mail || after_mail;
  const bool get_rcpt = in.rcpt || after_rcpt;

  uint32_t want = 0;
  auto step_flags = [&](bool receive, bool evaluate, uint32_t no, uint32_t no_reply) {
    if (!receive)
      want |= no;
    else if (!evaluate)
      want |= no_reply;
  };
  step_flags(get_connect, in.connect, step::kNoConnect, step::kNoReplyConnect);
  step_flags(get_helo, in.helo, step::kNoHelo, step::kNoReplyHelo);
  step_flags(get_mail, in.mail, step::kNoMail, step::kNoReplyMail);
  step_flags(get_rcpt, in.rcpt, step::kNoRcpt, step::kNoReplyRcpt);
  step_flags(in.data, in.data, step::kNoData, step::kNoReplyData);
  step_flags(in.unknown, in.unknown, step::kNoUnknown, step::kNoReplyUnknown);
  // Headers and body feed `_EOD` only; they are never answered one by one.
  want |= in.eom ? step::kNoReplyHeader : step::kNoHeaders;
  want |= (in.eom && in.body_limit > 0) ? step::kNoReplyBody : step::kNoBody;
  // EOH carries nothing `_EOD` needs, but is received without a reply rather than refused:
  // miltertest (and perhaps other MTAs) mishandle SMFIP_NOEOH once headers were sent.
  want |= in.eom ? step::kNoReplyEoh : step::kNoEoh;

  OptNegReply reply;
  reply.version = std::min(offer.version, kProtocolVersion);
  reply.protocol = want & offer.protocol;
  const uint32_t actions = action::kAddHeaders | action::kChangeHeaders | action::kChangeBody |
                           action::kAddRcpt | action::kAddRcptPar | action::kDelRcpt |
                           action::kQuarantine | action::kChangeFrom | action::kSetSymList;
  reply.actions = actions & offer.actions;
  if (reply.version >= 6 && (reply.actions & action::kSetSymList)) reply.macros = RequestedMacros();
  return reply;
}

}  // namespace smtpbridge::milter
