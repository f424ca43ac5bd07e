#include "milter/verdict_mapping.h"

#include <algorithm>

#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::milter {
namespace {

// Postfix and libmilter take SMFIR_REPLBODY chunks up to 64 KiB.
constexpr std::size_t kBodyChunk = 65535;

std::string CleanLine(const std::string& line) {
  std::string out;
  out.reserve(line.size());
  for (char c : line) {
    if (c == '\r' || c == '\n' || c == '\0') continue;
    if (c == '%') out.push_back('%');
    out.push_back(c);
  }
  return out;
}

std::string Bracketed(const std::string& address) {
  if (!address.empty() && address.front() == '<') return address;
  return "<" + address + ">";
}

bool IsClass(uint32_t code, char cls) {
  return code >= 200 && code <= 599 && static_cast<char>('0' + code / 100) == cls;
}

// The reply of the right class, else the contract's default (the same text as the proxy and the
// policy host give).
Reply CodeOr(const v1::SmtpReply& reply, char cls, const char* fallback) {
  if (IsClass(reply.code(), cls)) return ReplyCode{FormatReplyCode(reply)};
  return ReplyCode{fallback};
}

}  // namespace

std::string DefaultEnhancedCode(uint32_t code) {
  if (code == 421) return "4.7.0";
  if (code / 100 == 2) return "2.0.0";
  return std::to_string(code / 100 % 10) + ".7.1";
}

std::string FormatReplyCode(const v1::SmtpReply& reply) {
  if (reply.code() == 0) return {};
  const std::string code = std::to_string(reply.code());
  std::string enhanced = CleanLine(reply.enhanced_code());
  if (enhanced.empty()) enhanced = DefaultEnhancedCode(reply.code());
  std::vector<std::string> lines(reply.lines().begin(), reply.lines().end());
  // No text: the proto's default text of the reply's class, as on the proxy and the policy host.
  if (lines.empty()) {
    lines.emplace_back(reply.code() == 421  ? "Closing connection"
                       : reply.code() < 500 ? "Try again later"
                                            : "Rejected by policy");
  }
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const bool last = i + 1 == lines.size();
    std::string line = code + (last ? " " : "-");
    if (!enhanced.empty()) line += enhanced + " ";
    line += CleanLine(lines[i]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    if (!last) out += "\r\n";
  }
  return out;
}

Reply StepReply(const v1::Verdict& verdict) {
  const auto& r = verdict.reply();
  switch (verdict.action()) {
    case v1::ACTION_RESPOND:
      if (r.code() >= 400 && r.code() <= 599) return ReplyCode{FormatReplyCode(r)};
      return SimpleReply{reply::kContinue};
    case v1::ACTION_REJECT:
      return CodeOr(r, '5', "550 5.7.1 Rejected by policy");
    case v1::ACTION_TEMPFAIL:
      return CodeOr(r, '4', "451 4.7.1 Try again later");
    case v1::ACTION_DROP_SESSION: {
      v1::SmtpReply drop = r;
      if (drop.code() != 421) {
        drop.set_code(421);
        drop.set_enhanced_code("4.7.0");
        drop.clear_lines();
        drop.add_lines("Closing connection");
      }
      return ReplyCode{FormatReplyCode(drop)};
    }
    default:
      return SimpleReply{reply::kContinue};
  }
}

std::vector<Reply> EndOfMessageReplies(const v1::Verdict& verdict, uint32_t actions, int* skipped,
                                       int* refused) {
  std::vector<Reply> out;
  Reply final_reply = StepReply(verdict);
  auto* simple = std::get_if<SimpleReply>(&final_reply);
  if (!simple || simple->code != reply::kContinue) return {final_reply};

  int dropped = 0;
  int bad = 0;
  auto granted = [&](uint32_t flag) {
    if (actions & flag) return true;
    ++dropped;
    return false;
  };
  // The dispatcher validates edits already; this defence counts what still breaks the rules
  // (smtpbridge/v1/smtp_text.h) instead of handing it to the MTA.
  auto valid = [&](bool ok) {
    if (!ok) ++bad;
    return ok;
  };
  auto header_ok = [&](const std::string& name, const std::string& value) {
    return valid(v1::IsHeaderName(name) && v1::IsHeaderValue(value));
  };
  for (const auto& edit : verdict.edits()) {
    switch (edit.edit_case()) {
      case v1::MessageEdit::kAddHeader:
        if (header_ok(edit.add_header().name(), edit.add_header().value()) &&
            granted(action::kAddHeaders))
          out.push_back(AddHeaderReply{edit.add_header().name(), edit.add_header().value()});
        break;
      case v1::MessageEdit::kInsertHeader:
        if (header_ok(edit.insert_header().name(), edit.insert_header().value()) &&
            granted(action::kAddHeaders))
          out.push_back(InsertHeaderReply{edit.insert_header().index(), edit.insert_header().name(),
                                          edit.insert_header().value()});
        break;
      case v1::MessageEdit::kChangeHeader:
        if (header_ok(edit.change_header().name(), edit.change_header().value()) &&
            granted(action::kChangeHeaders))
          out.push_back(ChangeHeaderReply{std::max<uint32_t>(1, edit.change_header().occurrence()),
                                          edit.change_header().name(),
                                          edit.change_header().value()});
        break;
      case v1::MessageEdit::kChangeSender:
        // smfi_chgfrom: a path with '>' or spaces would add ESMTP parameters (#14).
        if (valid((edit.change_sender().address().empty() ||
                   v1::IsMailbox(edit.change_sender().address())) &&
                  v1::IsEsmtpParameters(edit.change_sender().parameters())) &&
            granted(action::kChangeFrom))
          out.push_back(ChangeFromReply{Bracketed(edit.change_sender().address()),
                                        edit.change_sender().parameters()});
        break;
      case v1::MessageEdit::kAddRecipient: {
        const auto& a = edit.add_recipient();
        if (!valid(v1::IsMailbox(a.address()) && v1::IsEsmtpParameters(a.parameters()))) break;
        if (!a.parameters().empty() && (actions & action::kAddRcptPar))
          out.push_back(AddRcptReply{Bracketed(a.address()), a.parameters()});
        else if (granted(action::kAddRcpt))
          out.push_back(AddRcptReply{Bracketed(a.address()), std::nullopt});
        break;
      }
      case v1::MessageEdit::kDeleteRecipient:
        if (valid(v1::IsMailbox(edit.delete_recipient().address())) && granted(action::kDelRcpt))
          out.push_back(DelRcptReply{Bracketed(edit.delete_recipient().address())});
        break;
      case v1::MessageEdit::kQuarantine:
        if (granted(action::kQuarantine)) {
          // One line: a CR/LF in the reason must not cancel the quarantine.
          std::string reason = v1::OneLine(edit.quarantine().reason());
          out.push_back(QuarantineReply{reason.empty() ? "smtpbridge" : reason});
        }
        break;
      case v1::MessageEdit::kDiscard:
        final_reply = SimpleReply{reply::kDiscard};
        break;
      case v1::MessageEdit::kReplaceBody:
        if (granted(action::kChangeBody)) {
          const std::string& body = edit.replace_body().body();
          if (body.empty()) out.push_back(ReplaceBodyReply{});
          for (std::size_t at = 0; at < body.size(); at += kBodyChunk)
            out.push_back(ReplaceBodyReply{body.substr(at, kBodyChunk)});
        }
        break;
      case v1::MessageEdit::kWarn:
      case v1::MessageEdit::kInfo:
      case v1::MessageEdit::kFilter:
      case v1::MessageEdit::kRedirect:
        // Postfix-only vocabulary: sink::PrepareVerdict logged or refused and removed these.
      case v1::MessageEdit::EDIT_NOT_SET:
        break;
    }
  }
  if (skipped) *skipped = dropped;
  if (refused) *refused = bad;
  out.push_back(final_reply);
  return out;
}

}  // namespace smtpbridge::milter
