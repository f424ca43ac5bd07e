#include "smtpbridge/worker/verdict.h"

#include <stdexcept>

#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::worker {
namespace {

constexpr uint32_t kDropSessionCode = 421;

void RequireClass(uint32_t code, uint32_t klass, const char* what) {
  if (code / 100 != klass) {
    throw std::invalid_argument(std::string(what) + ": reply code " + std::to_string(code) +
                                " is not " + std::to_string(klass) + "xx");
  }
}

// The dispatcher refuses a verdict that breaks the contract (docs/verdicts.md); the SDK refuses it
// when it is built, so the author's own unit test fails instead of an SMTP session.
void Require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

void RequireHeader(const char* verb, const std::string& name, const std::string& value) {
  Require(v1::IsHeaderName(name),
          std::string(verb) + ": \"" + v1::EscapeForLog(name) +
              "\" is not a header field name (RFC 5322 ftext, no ':' or space)");
  Require(v1::IsHeaderValue(value), std::string(verb) + ": the value of " + name +
                                        " has a bare CR, LF or NUL (only CRLF + space/tab folds)");
}

void RequirePath(const char* verb, const std::string& address, const std::string& parameters,
                 bool null_allowed) {
  Require((null_allowed && address.empty()) || v1::IsMailbox(address),
          std::string(verb) + ": \"" + v1::EscapeForLog(address) +
              "\" is not a mailbox (RFC 5321 path, no <>)");
  Require(
      v1::IsEsmtpParameters(parameters),
      std::string(verb) + ": \"" + v1::EscapeForLog(parameters) + "\" are not ESMTP parameters");
}

// Split on line breaks so a multi-line text becomes a multi-line reply and no CR/LF can be
// smuggled into the SMTP stream.
void SetLines(v1::SmtpReply* reply, const std::string& text) {
  reply->clear_lines();
  if (text.empty()) return;  // no text: the host supplies its default wording
  size_t start = 0;
  while (true) {
    size_t end = text.find('\n', start);
    std::string line =
        text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    reply->add_lines(std::move(line));
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

}  // namespace

Verdict Verdict::Continue() { return Verdict(v1::ACTION_CONTINUE); }

Verdict Verdict::Respond(uint32_t code, std::string enhanced_code, std::string text) {
  if (code < 200 || code > 599) {
    throw std::invalid_argument("Respond: reply code " + std::to_string(code) + " is not 2xx-5xx");
  }
  Verdict v(v1::ACTION_RESPOND);
  return std::move(v.WithReply(code, std::move(enhanced_code), std::move(text)));
}

Verdict Verdict::Reject() { return Verdict(v1::ACTION_REJECT); }

Verdict Verdict::Reject(uint32_t code, std::string enhanced_code, std::string text) {
  RequireClass(code, 5, "Reject");
  Verdict v(v1::ACTION_REJECT);
  return std::move(v.WithReply(code, std::move(enhanced_code), std::move(text)));
}

Verdict Verdict::Tempfail() { return Verdict(v1::ACTION_TEMPFAIL); }

Verdict Verdict::Tempfail(uint32_t code, std::string enhanced_code, std::string text) {
  RequireClass(code, 4, "Tempfail");
  Verdict v(v1::ACTION_TEMPFAIL);
  return std::move(v.WithReply(code, std::move(enhanced_code), std::move(text)));
}

Verdict Verdict::DropSession(std::string text) {
  Verdict v(v1::ACTION_DROP_SESSION);
  if (!text.empty()) v.WithReply(kDropSessionCode, "4.7.0", std::move(text));
  return v;
}

Verdict Verdict::SkipRecipient() { return Verdict(v1::ACTION_SKIP_RECIPIENT); }

Verdict& Verdict::WithReply(uint32_t code, std::string enhanced_code, std::string text) {
  Require(enhanced_code.empty() ||
              (v1::IsEnhancedCode(enhanced_code) && enhanced_code[0] - '0' == int(code / 100)),
          "enhanced code \"" + v1::EscapeForLog(enhanced_code) + "\" is not " +
              std::to_string(code / 100) + ".SSS.DDD (RFC 3463, the reply's class)");
  Require(text.find('\0') == std::string::npos, "reply text has a NUL");
  auto* reply = proto_.mutable_reply();
  reply->set_code(code);
  reply->set_enhanced_code(std::move(enhanced_code));
  SetLines(reply, text);
  return *this;
}

Verdict& Verdict::SetCommand(std::string line) {
  proto_.mutable_command()->set_set_command(std::move(line));
  return *this;
}

Verdict& Verdict::Append(std::string suffix) {
  proto_.mutable_command()->mutable_append()->append(suffix);
  return *this;
}

Verdict& Verdict::NextState(v1::OutboundState state) {
  proto_.set_next_state(state);
  return *this;
}

Verdict& Verdict::Reply(uint32_t code, std::string enhanced_code, std::string text) {
  if (code < 200 || code > 599) {
    throw std::invalid_argument("Reply: reply code " + std::to_string(code) + " is not 2xx-5xx");
  }
  return WithReply(code, std::move(enhanced_code), std::move(text));
}

Verdict& Verdict::AddHeader(std::string name, std::string value) {
  RequireHeader("AddHeader", name, value);
  auto* e = NewEdit()->mutable_add_header();
  e->set_name(std::move(name));
  e->set_value(std::move(value));
  return *this;
}

Verdict& Verdict::InsertHeader(uint32_t index, std::string name, std::string value) {
  RequireHeader("InsertHeader", name, value);
  auto* e = NewEdit()->mutable_insert_header();
  e->set_index(index);
  e->set_name(std::move(name));
  e->set_value(std::move(value));
  return *this;
}

Verdict& Verdict::ChangeHeader(std::string name, std::string value, uint32_t occurrence) {
  RequireHeader("ChangeHeader", name, value);
  auto* e = NewEdit()->mutable_change_header();
  e->set_name(std::move(name));
  e->set_value(std::move(value));
  e->set_occurrence(occurrence);
  return *this;
}

Verdict& Verdict::DeleteHeader(std::string name, uint32_t occurrence) {
  return ChangeHeader(std::move(name), {}, occurrence);
}

Verdict& Verdict::ChangeSender(std::string address, std::string parameters) {
  RequirePath("ChangeSender", address, parameters, /*null_allowed=*/true);
  auto* e = NewEdit()->mutable_change_sender();
  e->set_address(std::move(address));
  e->set_parameters(std::move(parameters));
  return *this;
}

Verdict& Verdict::AddRecipient(std::string address, std::string parameters) {
  RequirePath("AddRecipient", address, parameters, /*null_allowed=*/false);
  auto* e = NewEdit()->mutable_add_recipient();
  e->set_address(std::move(address));
  e->set_parameters(std::move(parameters));
  return *this;
}

Verdict& Verdict::DeleteRecipient(std::string address) {
  RequirePath("DeleteRecipient", address, {}, /*null_allowed=*/false);
  NewEdit()->mutable_delete_recipient()->set_address(std::move(address));
  return *this;
}

Verdict& Verdict::Quarantine(std::string reason) {
  Require(v1::IsReplyText(reason),
          "Quarantine: the reason must be one line without control characters");
  NewEdit()->mutable_quarantine()->set_reason(std::move(reason));
  return *this;
}

Verdict& Verdict::Discard() {
  NewEdit()->mutable_discard();
  return *this;
}

Verdict& Verdict::ReplaceBody(std::string body) {
  NewEdit()->mutable_replace_body()->set_body(std::move(body));
  return *this;
}

Verdict& Verdict::CacheFor(std::chrono::nanoseconds ttl, v1::CacheScope scope) {
  if (ttl.count() < 0) throw std::invalid_argument("CacheFor: negative ttl");
  *proto_.mutable_cache_ttl() = v1::ToProtoDuration(ttl);
  proto_.set_cache_scope(scope);
  return *this;
}

Verdict& Verdict::Reason(std::string reason) {
  proto_.set_reason(std::move(reason));
  return *this;
}

Verdict& Verdict::Tag(std::string tag) {
  proto_.add_tags(std::move(tag));
  return *this;
}

}  // namespace smtpbridge::worker
