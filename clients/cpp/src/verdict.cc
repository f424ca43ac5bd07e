#include "smtpbridge/worker/verdict.h"

#include <stdexcept>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::worker {
namespace {

constexpr uint32_t kDropSessionCode = 421;

void RequireClass(uint32_t code, uint32_t klass, const char* what) {
  if (code / 100 != klass) {
    throw std::invalid_argument(std::string(what) + ": reply code " + std::to_string(code) +
                                " is not " + std::to_string(klass) + "xx");
  }
}

// Split on line breaks so a multi-line text becomes a multi-line reply and no CR/LF can be
// smuggled into the SMTP stream.
void SetLines(v1::SmtpReply* reply, const std::string& text) {
  reply->clear_lines();
  if (text.empty()) return;  // no text: the host supplies its default wording
  size_t start = 0;
  while (true) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
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
  auto* e = NewEdit()->mutable_add_header();
  e->set_name(std::move(name));
  e->set_value(std::move(value));
  return *this;
}

Verdict& Verdict::InsertHeader(uint32_t index, std::string name, std::string value) {
  auto* e = NewEdit()->mutable_insert_header();
  e->set_index(index);
  e->set_name(std::move(name));
  e->set_value(std::move(value));
  return *this;
}

Verdict& Verdict::ChangeHeader(std::string name, std::string value, uint32_t occurrence) {
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
  auto* e = NewEdit()->mutable_change_sender();
  e->set_address(std::move(address));
  e->set_parameters(std::move(parameters));
  return *this;
}

Verdict& Verdict::AddRecipient(std::string address, std::string parameters) {
  auto* e = NewEdit()->mutable_add_recipient();
  e->set_address(std::move(address));
  e->set_parameters(std::move(parameters));
  return *this;
}

Verdict& Verdict::DeleteRecipient(std::string address) {
  NewEdit()->mutable_delete_recipient()->set_address(std::move(address));
  return *this;
}

Verdict& Verdict::Quarantine(std::string reason) {
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
