#include "dispatch/verdict_validation.h"

#include <algorithm>

#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::dispatcher {
namespace {

VerdictCheck Refuse(VerdictProblem problem, std::string detail) {
  return {problem, std::move(detail)};
}

// At most 60 escaped characters of worker text, for the detail.
std::string Quote(std::string_view text) {
  std::string escaped = v1::EscapeForLog(text.substr(0, 60));
  if (text.size() > 60) escaped += "...";
  return "\"" + escaped + "\"";
}

bool IsQuit(const v1::Event& event) {
  if (event.type() != v1::EVENT_TYPE_INBOUND_COMMAND) return false;
  const auto& k = event.command().keyword();
  return k.size() == 4 && (k[0] | 0x20) == 'q' && (k[1] | 0x20) == 'u' && (k[2] | 0x20) == 'i' &&
         (k[3] | 0x20) == 't';
}

// The reply's own syntax: code range, enhanced code, lines.
VerdictCheck CheckReplySyntax(const v1::SmtpReply& reply) {
  const uint32_t code = reply.code();
  if (code < 200 || code > 599) {
    return Refuse(VerdictProblem::kReplyCode,
                  "reply code " + std::to_string(code) + " is not 200..599");
  }
  const auto& enhanced = reply.enhanced_code();
  if (!enhanced.empty()) {
    if (!v1::IsEnhancedCode(enhanced)) {
      return Refuse(VerdictProblem::kEnhancedCode,
                    "enhanced code " + Quote(enhanced) + " is not X.Y.Z");
    }
    if (static_cast<uint32_t>(enhanced[0] - '0') != code / 100) {
      return Refuse(VerdictProblem::kEnhancedCode, "enhanced code " + Quote(enhanced) +
                                                       " does not match reply code " +
                                                       std::to_string(code));
    }
  }
  if (reply.lines_size() > kMaxReplyLines) {
    return Refuse(VerdictProblem::kReplyLines, std::to_string(reply.lines_size()) +
                                                   " reply lines (at most " +
                                                   std::to_string(kMaxReplyLines) + ")");
  }
  for (const auto& line : reply.lines()) {
    if (!v1::IsReplyText(line)) {
      return Refuse(VerdictProblem::kReplyText,
                    "reply line " + Quote(line) + " holds a control character");
    }
    if (line.size() > kMaxReplyLineOctets) {
      return Refuse(VerdictProblem::kReplyText, "reply line of " + std::to_string(line.size()) +
                                                    " octets (at most " +
                                                    std::to_string(kMaxReplyLineOctets) + ")");
    }
  }
  return {};
}

// The reply against the action and the event.
VerdictCheck CheckReply(const v1::Verdict& verdict, const v1::Event& event) {
  const auto action = verdict.action();
  // An empty SmtpReply message (some encoders write one) is no reply.
  const auto& r = verdict.reply();
  const bool has =
      verdict.has_reply() && (r.code() != 0 || !r.enhanced_code().empty() || r.lines_size() > 0);
  if (!has) {
    if (action == v1::ACTION_RESPOND)
      return Refuse(VerdictProblem::kReplyMissing, "respond without a reply");
    return {};
  }
  const auto& reply = verdict.reply();
  if (action == v1::ACTION_SKIP_RECIPIENT) {
    return Refuse(VerdictProblem::kReplyClass,
                  "skip_recipient takes no reply (the client sees the next hop's)");
  }
  if ((action == v1::ACTION_CONTINUE || action == v1::ACTION_UNSPECIFIED) &&
      event.type() != v1::EVENT_TYPE_SERVER_RESPONSE) {
    return Refuse(VerdictProblem::kReplyClass, "continue takes a reply only on SERVER_RESPONSE");
  }
  if (auto check = CheckReplySyntax(reply); !check.ok()) return check;
  const uint32_t code = reply.code();
  const uint32_t cls = code / 100;
  const std::string code_text = std::to_string(code);
  switch (action) {
    case v1::ACTION_RESPOND:
      if (cls == 3)
        return Refuse(VerdictProblem::kReplyClass,
                      "respond with " + code_text + ": 3xx is never allowed");
      if (code == 421)
        return Refuse(VerdictProblem::kReplyClass, "respond with 421: use drop_session");
      if (code == 221 && !IsQuit(event)) {
        return Refuse(VerdictProblem::kReplyClass, "respond with 221 is only allowed on QUIT");
      }
      return {};
    case v1::ACTION_REJECT:
      if (cls != 5)
        return Refuse(VerdictProblem::kReplyClass, "reject needs a 5xx reply, not " + code_text);
      return {};
    case v1::ACTION_TEMPFAIL:
    case v1::ACTION_DEFER_IF_PERMIT:
    case v1::ACTION_DEFER_IF_REJECT:
      if (cls != 4 || code == 421) {
        return Refuse(VerdictProblem::kReplyClass, std::string(v1::ActionName(action)) +
                                                       " needs a 4xx reply other than 421, not " +
                                                       code_text);
      }
      return {};
    case v1::ACTION_DROP_SESSION:
      if (code != 421)
        return Refuse(VerdictProblem::kReplyClass, "drop_session needs 421, not " + code_text);
      return {};
    default: {  // CONTINUE on SERVER_RESPONSE: replaces the relayed reply, same class
      const uint32_t got = event.response().code() / 100;
      if (got != 0 && got != cls) {
        return Refuse(VerdictProblem::kReplyClass, "a continue reply " + code_text +
                                                       " must keep the class of the next hop's " +
                                                       std::to_string(event.response().code()));
      }
      if (got == 0 && cls == 3) {
        return Refuse(VerdictProblem::kReplyClass,
                      "a 3xx continue reply needs a 3xx server response");
      }
      return {};
    }
  }
}

VerdictCheck CheckHeader(std::string_view name, std::string_view value) {
  if (!v1::IsHeaderName(name)) {
    return Refuse(VerdictProblem::kHeaderName,
                  "header name " + Quote(name) + " is not RFC 5322 ftext");
  }
  if (!v1::IsHeaderValue(value)) {
    return Refuse(VerdictProblem::kHeaderValue,
                  "header " + Quote(name) + " value holds NUL or a bare CR/LF");
  }
  return {};
}

VerdictCheck CheckAddress(std::string_view what, std::string_view address, bool empty_ok) {
  if (address.empty() && empty_ok) return {};
  if (!v1::IsMailbox(address)) {
    return Refuse(VerdictProblem::kAddress,
                  std::string(what) + " address " + Quote(address) + " is not an RFC 5321 mailbox");
  }
  return {};
}

VerdictCheck CheckParameters(std::string_view what, std::string_view parameters) {
  if (!v1::IsEsmtpParameters(parameters)) {
    return Refuse(
        VerdictProblem::kEsmtpParameters,
        std::string(what) + " parameters " + Quote(parameters) + " are not KEY[=VALUE] ...");
  }
  return {};
}

VerdictCheck CheckEdit(const v1::MessageEdit& edit) {
  switch (edit.edit_case()) {
    case v1::MessageEdit::kAddHeader:
      return CheckHeader(edit.add_header().name(), edit.add_header().value());
    case v1::MessageEdit::kInsertHeader:
      return CheckHeader(edit.insert_header().name(), edit.insert_header().value());
    case v1::MessageEdit::kChangeHeader:
      return CheckHeader(edit.change_header().name(), edit.change_header().value());
    case v1::MessageEdit::kChangeSender: {
      const auto& e = edit.change_sender();
      if (auto c = CheckAddress("change_sender", e.address(), true); !c.ok()) return c;
      return CheckParameters("change_sender", e.parameters());
    }
    case v1::MessageEdit::kAddRecipient: {
      const auto& e = edit.add_recipient();
      if (auto c = CheckAddress("add_recipient", e.address(), false); !c.ok()) return c;
      return CheckParameters("add_recipient", e.parameters());
    }
    case v1::MessageEdit::kDeleteRecipient:
      return CheckAddress("delete_recipient", edit.delete_recipient().address(), false);
    case v1::MessageEdit::kWarn:
    case v1::MessageEdit::kInfo: {
      const auto& text = edit.has_warn() ? edit.warn().text() : edit.info().text();
      if (!v1::IsReplyText(text) || text.size() > kMaxReplyLineOctets) {
        return Refuse(VerdictProblem::kEditText,
                      "warn/info text " + Quote(text) + " is not one line of text");
      }
      return {};
    }
    case v1::MessageEdit::kFilter: {
      // Postfix FILTER transport:destination: one token of printable ASCII with a colon.
      const auto& t = edit.filter().transport();
      const bool printable =
          std::all_of(t.begin(), t.end(), [](char c) { return c > 32 && c < 127; });
      if (t.empty() || !printable || t.find(':') == std::string::npos || t.size() > 255) {
        return Refuse(VerdictProblem::kEditText,
                      "filter " + Quote(t) + " is not \"transport:destination\"");
      }
      return {};
    }
    case v1::MessageEdit::kRedirect:
      return CheckAddress("redirect", edit.redirect().address(), false);
    case v1::MessageEdit::kQuarantine:
    case v1::MessageEdit::kDiscard:
    case v1::MessageEdit::kReplaceBody:
      return {};
    case v1::MessageEdit::EDIT_NOT_SET:
      break;
  }
  return Refuse(VerdictProblem::kUnknownEdit,
                "an edit of a kind this dispatcher does not know (or empty)");
}

}  // namespace

std::string_view VerdictProblemName(VerdictProblem problem) {
  switch (problem) {
    case VerdictProblem::kNone:
      return "";
    case VerdictProblem::kUnknownAction:
      return "unknown_action";
    case VerdictProblem::kReplyMissing:
      return "reply_missing";
    case VerdictProblem::kReplyCode:
      return "reply_code";
    case VerdictProblem::kReplyClass:
      return "reply_class";
    case VerdictProblem::kEnhancedCode:
      return "enhanced_code";
    case VerdictProblem::kReplyText:
      return "reply_text";
    case VerdictProblem::kReplyLines:
      return "reply_lines";
    case VerdictProblem::kCommandText:
      return "command_text";
    case VerdictProblem::kNextState:
      return "next_state";
    case VerdictProblem::kCacheScope:
      return "cache_scope";
    case VerdictProblem::kUnknownEdit:
      return "unknown_edit";
    case VerdictProblem::kHeaderName:
      return "header_name";
    case VerdictProblem::kHeaderValue:
      return "header_value";
    case VerdictProblem::kAddress:
      return "address";
    case VerdictProblem::kEsmtpParameters:
      return "esmtp_parameters";
    case VerdictProblem::kEditText:
      return "edit_text";
  }
  return "unknown";
}

VerdictCheck ValidateVerdict(const v1::Verdict& verdict, const v1::Event& event) {
  if (!v1::Action_IsValid(verdict.action())) {
    return Refuse(VerdictProblem::kUnknownAction,
                  "unknown action " + std::to_string(verdict.action()));
  }
  if (auto check = CheckReply(verdict, event); !check.ok()) return check;
  for (const std::string* text : {&verdict.command().set_command(), &verdict.command().append()}) {
    if (!v1::IsReplyText(*text) || text->size() > kMaxCommandOctets) {
      return Refuse(VerdictProblem::kCommandText, "command rewrite " + Quote(*text) +
                                                      " holds a control character or is too long");
    }
  }
  if (!v1::OutboundState_IsValid(verdict.next_state())) {
    return Refuse(VerdictProblem::kNextState,
                  "unknown next_state " + std::to_string(verdict.next_state()));
  }
  if (!v1::CacheScope_IsValid(verdict.cache_scope())) {
    return Refuse(VerdictProblem::kCacheScope,
                  "unknown cache_scope " + std::to_string(verdict.cache_scope()));
  }
  for (const auto& edit : verdict.edits()) {
    if (auto check = CheckEdit(edit); !check.ok()) return check;
  }
  return {};
}

v1::SmtpReply EnforcedReply(const v1::Verdict& verdict) {
  if (verdict.has_reply() && verdict.reply().code() != 0) return verdict.reply();
  v1::SmtpReply reply;
  switch (verdict.action()) {
    case v1::ACTION_REJECT:
      reply.set_code(550);
      reply.set_enhanced_code("5.7.1");
      break;
    case v1::ACTION_TEMPFAIL:
      reply.set_code(451);
      reply.set_enhanced_code("4.7.1");
      break;
    case v1::ACTION_DROP_SESSION:
      reply.set_code(421);
      reply.set_enhanced_code("4.7.0");
      break;
    case v1::ACTION_DEFER_IF_PERMIT:
    case v1::ACTION_DEFER_IF_REJECT:
      reply.set_code(450);
      reply.set_enhanced_code("4.7.1");
      break;
    default:
      break;
  }
  return reply;
}

void CleanVerdict(v1::Verdict* verdict) {
  for (auto& edit : *verdict->mutable_edits()) {
    if (!edit.has_quarantine()) continue;
    const auto& reason = edit.quarantine().reason();
    if (!v1::IsReplyText(reason)) edit.mutable_quarantine()->set_reason(v1::OneLine(reason));
  }
}

}  // namespace smtpbridge::dispatcher
