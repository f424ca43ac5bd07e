#include "policy/policy_mapping.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cctype>

#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::policy {
namespace {

uint64_t ToU64(const std::string& s) {
  uint64_t v = 0;
  if (s.empty() || s.size() > 18) return 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// One line of access(5) text: no CR/LF, lines joined.
std::string ReplyText(const v1::SmtpReply& reply) {
  std::string text;
  for (const auto& line : reply.lines()) {
    if (!text.empty()) text += "; ";
    text += line;
  }
  text.erase(std::remove_if(text.begin(), text.end(),
                            [](char c) { return c == '\r' || c == '\n' || c == '\0'; }),
             text.end());
  return text;
}

// Always with an enhanced code: "NNN" alone is an all-numerical access(5) result, which Postfix
// reads as OK (the recipient a worker rejected would be accepted, and later restrictions skipped);
// "C.7.1" (421: "4.7.0") is what its own access tables add, and what the milter sends.
std::string CodeReply(const v1::SmtpReply& reply) {
  std::string out = std::to_string(reply.code());
  if (!reply.enhanced_code().empty())
    out += " " + reply.enhanced_code();
  else if (reply.code() == 421)
    out += " 4.7.0";
  else
    out += " " + std::to_string(reply.code() / 100 % 10) + ".7.1";  // 4xx/5xx only (2xx is OK)
  // No text: the class's default text, as on the proxy and the milter. Postfix would otherwise
  // show the text of an earlier reply of the same smtpd process (seen with Postfix 3.7.11:
  // "452 4.5.3" after a "550 5.7.1 plain text" reached the client as "452 4.5.3 <rcpt>: Recipient
  // address rejected: plain text").
  const std::string text = ReplyText(reply);
  if (!text.empty())
    out += " " + text;
  else
    out += reply.code() == 421  ? " Closing connection"
           : reply.code() < 500 ? " Try again later"
                                : " Rejected by policy";
  return out;
}

std::string WithText(const std::string& action, const std::string& text) {
  return text.empty() ? action : action + " " + text;
}

bool InClass(uint32_t code, uint32_t cls) { return code / 100 == cls && code % 1000 >= 100; }

// The contract's reply syntax (what the dispatcher checks): otherwise the host's default applies.
bool ReplyOk(const v1::SmtpReply& reply) {
  if (!reply.enhanced_code().empty() &&
      (!v1::IsEnhancedCode(reply.enhanced_code()) ||
       static_cast<uint32_t>(reply.enhanced_code()[0] - '0') != reply.code() / 100)) {
    return false;
  }
  for (const auto& line : reply.lines()) {
    if (!v1::IsReplyText(line)) return false;
  }
  return true;
}

}  // namespace

std::string KeywordForState(const std::string& state) {
  const std::string s = Upper(state);
  if (s == "CONNECT") return "";
  if (s == "END-OF-MESSAGE") return "_EOD";
  return s;
}

v1::Event EventFromRequest(const PolicyRequest& request, const MappingOptions& options,
                           const std::string& session_id, const std::string& event_id) {
  v1::Event event;
  event.set_event_id(event_id);
  *event.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  auto* session = event.mutable_session();
  session->set_session_id(session_id);
  session->set_instance(options.instance);
  session->set_host_kind(v1::HOST_KIND_POLICY_DELEGATION);
  session->set_host_name(options.host_name);
  // Attribute bytes are whatever the client sent (8-bit MAIL FROM without SMTPUTF8, Latin-1
  // certificate subjects): every one is made valid UTF-8 before it enters a string field, or the
  // dispatcher would refuse the whole request and the event would fall back.
  auto& attributes = *session->mutable_attributes();
  for (const auto& [k, v] : request.attributes) attributes[v1::Utf8Safe(k)] = v1::Utf8Safe(v);
  // The fields below read the cleaned attributes: one hash lookup, no copy, instead of a scan
  // of the request and a UTF-8 pass per read (about 40 per request). The same value: a name
  // with no invalid byte is only ever cleaned to itself, and the map keeps the last value of a
  // repeated name, as PolicyRequest::Get() does.
  static const std::string kEmpty;
  auto get = [&](const std::string& name) -> const std::string& {
    const auto it = attributes.find(name);
    return it == attributes.end() ? kEmpty : it->second;
  };

  auto* client = session->mutable_client();
  client->set_address(get("client_address"));
  client->set_port(static_cast<uint32_t>(ToU64(get("client_port"))));
  client->set_hostname(get("client_name"));
  auto* server = session->mutable_server();
  server->set_address(get("server_address"));
  server->set_port(static_cast<uint32_t>(ToU64(get("server_port"))));
  session->set_helo_name(get("helo_name"));
  session->set_esmtp(Upper(get("protocol_name")) == "ESMTP");
  if (!get("encryption_protocol").empty()) {
    auto* tls = session->mutable_tls();
    tls->set_active(true);
    tls->set_protocol(get("encryption_protocol"));
    tls->set_cipher(get("encryption_cipher"));
    tls->set_cipher_bits(static_cast<uint32_t>(ToU64(get("encryption_keysize"))));
    tls->set_peer_subject(get("ccert_subject"));
    tls->set_peer_issuer(get("ccert_issuer"));
  }
  if (!get("sasl_method").empty() || !get("sasl_username").empty()) {
    auto* auth = session->mutable_auth();
    auth->set_authenticated(!get("sasl_username").empty());
    auth->set_mechanism(get("sasl_method"));
    auth->set_username(get("sasl_username"));
  }

  const std::string state = Upper(get("protocol_state"));
  const std::string keyword = KeywordForState(state);
  auto* envelope = event.mutable_envelope();
  const bool in_transaction = state == "MAIL" || state == "RCPT" || state == "DATA" ||
                              state == "END-OF-MESSAGE" || state == "BDAT";
  if (in_transaction) {
    envelope->set_sender(get("sender"));
    envelope->set_has_sender(true);
  }
  envelope->set_size(ToU64(get("size")));
  const uint32_t recipient_count = static_cast<uint32_t>(ToU64(get("recipient_count")));
  if (!get("recipient").empty()) {
    envelope->set_recipient(get("recipient"));
    // Postfix reports the recipients accepted so far; the one asked about comes next.
    if (state == "RCPT") envelope->set_recipient_index(recipient_count);
    // After RCPT, a single recipient is known by name; more only by count.
    if (state != "RCPT" && state != "VRFY" && recipient_count <= 1)
      envelope->add_recipients(get("recipient"));
  }

  if (state == "CONNECT") {
    event.set_type(v1::EVENT_TYPE_CONNECT);
    return event;
  }
  event.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  auto* command = event.mutable_command();
  command->set_keyword(keyword);
  std::string argument;
  if (state == "EHLO" || state == "HELO")
    argument = get("helo_name");
  else if (state == "MAIL")
    argument = "FROM:<" + get("sender") + ">" +
               (get("size").empty() || get("size") == "0" ? "" : " SIZE=" + get("size"));
  else if (state == "RCPT")
    argument = "TO:<" + get("recipient") + ">";
  else if (state == "VRFY")
    argument = get("recipient");
  else if (state == "ETRN")
    argument = get("etrn_domain");
  command->set_argument(argument);
  command->set_line(argument.empty() ? keyword : keyword + " " + argument);
  auto* response = event.mutable_response();
  response->set_code(state == "DATA" ? 354 : state == "ETRN" ? 250 : 250);
  if (state == "END-OF-MESSAGE") {
    auto* message = event.mutable_message();
    message->set_size(ToU64(get("size")));
    message->set_queue_id(get("queue_id"));
    message->set_body_truncated(true);  // the policy protocol never carries the message
  }
  return event;
}

std::string ActionForVerdict(const v1::Verdict& verdict, const std::string& protocol_state,
                             int* refused) {
  int bad = 0;
  auto valid = [&](bool ok) {
    if (!ok) ++bad;
    return ok;
  };
  struct Report {
    int* out;
    int* count;
    ~Report() {
      if (out) *out = *count;
    }
  } report{refused, &bad};
  // access(5) text is one line: control characters (a folded header's CRLF) become spaces.
  auto clean = [](const std::string& s) { return v1::OneLine(s); };

  const auto& reply = verdict.reply();
  const std::string text = ReplyText(reply);
  // The dispatcher only forwards replies that fit the action; a host's own check stays, counted,
  // and falls back to the contract's default reply (never to Postfix's 554/450).
  auto reply_or = [&](uint32_t cls, const char* fallback) {
    if (InClass(reply.code(), cls) && ReplyOk(reply)) return CodeReply(reply);
    valid(reply.code() == 0);
    return std::string(fallback);
  };
  switch (verdict.action()) {
    case v1::ACTION_RESPOND:
      // 421 is DROP_SESSION's code (Postfix hangs up on it): a RESPOND may not use it.
      if (!ReplyOk(reply) || reply.code() / 100 == 3 || reply.code() < 200 || reply.code() > 599 ||
          reply.code() == 421) {
        valid(false);  // unusable: the event continues, counted (as on the proxy and the milter)
        return "DUNNO";
      }
      if (InClass(reply.code(), 4) || InClass(reply.code(), 5)) return CodeReply(reply);
      // A 2xx answer to the client: Postfix's OK (accept; later restrictions are skipped).
      return "OK";
    case v1::ACTION_REJECT:
      return reply_or(5, "550 5.7.1 Rejected by policy");
    case v1::ACTION_TEMPFAIL:
      return reply_or(4, "451 4.7.1 Try again later");
    case v1::ACTION_DROP_SESSION: {
      v1::SmtpReply drop = reply;
      if (drop.code() != 421 || !ReplyOk(drop)) {
        valid(drop.code() == 0);
        drop.clear_lines();
        drop.set_code(421);
        drop.set_enhanced_code("4.7.0");
        if (drop.lines().empty()) drop.add_lines("Closing connection");
      }
      return CodeReply(drop);
    }
    case v1::ACTION_DEFER_IF_PERMIT:
    case v1::ACTION_DEFER_IF_REJECT: {
      // Postfix sends "$access_map_defer_code 4.7.1 text" (450 by default): only the text passes.
      const std::string word =
          verdict.action() == v1::ACTION_DEFER_IF_PERMIT ? "DEFER_IF_PERMIT" : "DEFER_IF_REJECT";
      return WithText(word, text);
    }
    case v1::ACTION_UNSPECIFIED:
    case v1::ACTION_CONTINUE:
    case v1::ACTION_SKIP_RECIPIENT:  // no next hop here: the recipient is accepted (DUNNO)
      break;
    default:
      valid(false);  // an action this host does not know: continue, counted
      return "DUNNO";
  }
  // CONTINUE: one access(5) action per reply, the strongest edit wins.
  const v1::MessageEdit* discard = nullptr;
  const v1::MessageEdit* quarantine = nullptr;
  const v1::MessageEdit* redirect = nullptr;
  const v1::MessageEdit* filter = nullptr;
  const v1::MessageEdit* prepend = nullptr;
  const v1::MessageEdit* bcc = nullptr;
  const v1::MessageEdit* warn = nullptr;
  const v1::MessageEdit* info = nullptr;
  const bool before_content = Upper(protocol_state) != "END-OF-MESSAGE";
  for (const auto& edit : verdict.edits()) {
    if (edit.has_discard() && !discard) discard = &edit;
    if (edit.has_quarantine() && !quarantine) quarantine = &edit;
    // The dispatcher validates edits already; what still breaks the rules is refused and counted.
    if (edit.has_redirect() && !redirect && valid(v1::IsMailbox(edit.redirect().address())))
      redirect = &edit;
    if (edit.has_filter() && !filter) {
      const auto& t = edit.filter().transport();
      if (valid(!t.empty() && t.find_first_of(" \t\r\n") == std::string::npos)) filter = &edit;
    }
    if (edit.has_add_header() && !prepend && before_content &&
        valid(v1::IsHeaderName(edit.add_header().name()) &&
              v1::IsHeaderValue(edit.add_header().value()))) {
      prepend = &edit;
    }
    if (edit.has_add_recipient() && !bcc && valid(v1::IsMailbox(edit.add_recipient().address())))
      bcc = &edit;
    if (edit.has_warn() && !warn) warn = &edit;
    if (edit.has_info() && !info) info = &edit;
  }
  if (discard) return WithText("DISCARD", clean(verdict.reason()));
  if (quarantine) return WithText("HOLD", clean(quarantine->quarantine().reason()));
  if (redirect) return "REDIRECT " + redirect->redirect().address();
  if (filter) return "FILTER " + filter->filter().transport();
  if (prepend)
    return "PREPEND " + prepend->add_header().name() + ": " + clean(prepend->add_header().value());
  if (bcc) return "BCC " + bcc->add_recipient().address();
  if (warn) return WithText("WARN", clean(warn->warn().text()));
  if (info) return WithText("INFO", clean(info->info().text()));
  return "DUNNO";
}

}  // namespace smtpbridge::policy
