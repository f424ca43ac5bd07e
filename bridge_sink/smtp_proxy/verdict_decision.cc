#include "verdict_decision.h"

namespace smtpbridge::proxy {

std::optional<Reply> ToReply(const v1::SmtpReply& proto) {
  if (proto.code() < 200 || proto.code() > 599) return std::nullopt;
  Reply reply;
  reply.code = static_cast<int>(proto.code());
  if (!proto.enhanced_code().empty()) {
    std::string enhanced;
    std::string rest;
    if (!SplitEnhancedCode(reply.code, proto.enhanced_code(), &enhanced, &rest) || !rest.empty()) {
      return std::nullopt;
    }
    reply.enhanced = enhanced;
  }
  for (const auto& line : proto.lines()) {
    if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos ||
        line.size() > 500) {
      return std::nullopt;
    }
    reply.lines.push_back(line);
  }
  // No enhanced code: the proxy advertises ENHANCEDSTATUSCODES (RFC 2034: every reply carries
  // one), so the same default as the milter and the policy host — 2.0.0, 421 4.7.0, else C.7.1.
  if (reply.enhanced.empty() && reply.code / 100 != 3) {
    reply.enhanced = reply.code / 100 == 2 ? "2.0.0"
                     : reply.code == 421   ? "4.7.0"
                                           : std::to_string(reply.code / 100) + ".7.1";
  }
  // No text: the proto's default text of the reply's class (docs/verdicts.md section 3), the same
  // on every host.
  if (reply.lines.empty()) {
    reply.lines.emplace_back(reply.positive()    ? "Ok"
                             : reply.code == 421 ? "Closing connection"
                             : reply.code < 500  ? "Try again later"
                                                 : "Rejected by policy");
  }
  return reply;
}

v1::SmtpReply ToProto(const Reply& reply) {
  v1::SmtpReply out;
  out.set_code(static_cast<uint32_t>(reply.code));
  out.set_enhanced_code(reply.enhanced);
  for (const auto& line : reply.lines) out.add_lines(Utf8Safe(line));
  return out;
}

Decision Decide(const v1::Verdict& verdict, std::string_view hostname, bool allow_skip) {
  const std::optional<Reply> given = verdict.has_reply() ? ToReply(verdict.reply()) : std::nullopt;
  Decision d;
  switch (verdict.action()) {
    case v1::ACTION_RESPOND:
      // A 3xx would leave the client in an intermediate state the proxy is not in.
      if (given && given->code / 100 != 3) {
        d.kind = Decision::Kind::kReply;
        d.reply = *given;
      }
      return d;
    case v1::ACTION_REJECT:
      d.kind = Decision::Kind::kReply;
      d.reply =
          given && given->klass() == 5 ? *given : MakeReply(550, "5.7.1", "Rejected by policy");
      return d;
    case v1::ACTION_TEMPFAIL:
      d.kind = Decision::Kind::kReply;
      d.reply = given && given->klass() == 4 ? *given : MakeReply(451, "4.7.1", "Try again later");
      return d;
    case v1::ACTION_DROP_SESSION:
      d.kind = Decision::Kind::kDrop;
      d.reply =
          given && given->code == 421
              ? *given
              : MakeReply(421, "4.7.0", std::string(hostname) + " Closing connection by policy");
      return d;
    case v1::ACTION_SKIP_RECIPIENT:
      if (allow_skip) d.kind = Decision::Kind::kSkip;
      return d;
    default:
      return d;
  }
}

}  // namespace smtpbridge::proxy
