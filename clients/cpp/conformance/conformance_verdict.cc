#include "conformance_verdict.h"

#include <charconv>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::conformance {
namespace {

using worker::EventContext;
using worker::Verdict;

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> out;
  while (true) {
    const auto at = text.find(sep);
    out.emplace_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

// Splits `op` into at most `fields` fields after the op name; the last takes the rest.
std::vector<std::string> Fields(std::string_view op, size_t fields) {
  std::vector<std::string> out;
  while (out.size() < fields) {
    const auto at = op.find(':');
    if (at == std::string_view::npos || out.size() + 1 == fields) {
      out.emplace_back(op);
      op = {};
      break;
    }
    out.emplace_back(op.substr(0, at));
    op.remove_prefix(at + 1);
  }
  if (out.size() != fields) throw std::invalid_argument("edit op has too few fields");
  return out;
}

uint32_t ToNumber(std::string_view text, const char* what) {
  uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument(std::string(what) + ": not a number: " + std::string(text));
  }
  return value;
}

Verdict BaseVerdict(std::string_view kind) {
  if (kind.empty() || kind == "continue") return Verdict::Continue();
  if (kind == "respond") return Verdict::Respond(250, "", "");
  if (kind == "reject") return Verdict::Reject();
  if (kind == "tempfail") return Verdict::Tempfail();
  if (kind == "drop_session") return Verdict::DropSession();
  if (kind == "skip_recipient") return Verdict::SkipRecipient();
  throw std::invalid_argument("unknown verdict: " + std::string(kind));
}

// RFC 3463 shape as SPEC.md words it: D.D{1,3}.D{1,3}.
bool IsEnhancedCode(std::string_view token) {
  const auto parts = Split(token, '.');
  if (parts.size() != 3) return false;
  const size_t max_len[] = {1, 3, 3};
  for (size_t i = 0; i < 3; ++i) {
    if (parts[i].empty() || parts[i].size() > max_len[i]) return false;
    for (char c : parts[i]) {
      if (c < '0' || c > '9') return false;
    }
  }
  return true;
}

// "CODE[ ENHANCED][ TEXT]", TEXT lines separated by '|'.
void ApplyReply(Verdict& v, std::string_view spec) {
  const auto first_space = spec.find(' ');
  const uint32_t code = ToNumber(spec.substr(0, first_space), "reply code");
  std::string enhanced;
  std::string_view rest = first_space == std::string_view::npos ? "" : spec.substr(first_space + 1);
  const auto second_space = rest.find(' ');
  const std::string token(rest.substr(0, second_space));
  if (IsEnhancedCode(token)) {
    enhanced = token;
    rest = second_space == std::string_view::npos ? "" : rest.substr(second_space + 1);
  }
  // TEXT lines are '|'-separated; the builder takes '\n'-separated lines.
  std::string text(rest);
  for (auto& c : text) {
    if (c == '|') c = '\n';
  }
  v.Reply(code, std::move(enhanced), std::move(text));
}

void ApplyEdits(Verdict& v, std::string_view spec) {
  for (const auto& op : Split(spec, ';')) {
    if (op.empty()) continue;
    const auto colon = op.find(':');
    const std::string name = op.substr(0, colon);
    const std::string_view args =
        colon == std::string::npos ? "" : std::string_view(op).substr(colon + 1);
    if (name == "add_header") {
      auto f = Fields(args, 2);
      v.AddHeader(f[0], f[1]);
    } else if (name == "insert_header") {
      auto f = Fields(args, 3);
      v.InsertHeader(ToNumber(f[0], "insert_header index"), f[1], f[2]);
    } else if (name == "change_header") {
      auto f = Fields(args, 3);
      v.ChangeHeader(f[0], f[2], ToNumber(f[1], "change_header occurrence"));
    } else if (name == "change_sender") {
      v.ChangeSender(std::string(args));
    } else if (name == "add_recipient") {
      v.AddRecipient(std::string(args));
    } else if (name == "delete_recipient") {
      v.DeleteRecipient(std::string(args));
    } else if (name == "quarantine") {
      v.Quarantine(std::string(args));
    } else if (name == "discard") {
      v.Discard();
    } else if (name == "replace_body") {
      v.ReplaceBody(std::string(args));
    } else {
      throw std::invalid_argument("unknown edit op: " + name);
    }
  }
}

v1::OutboundState ParseState(std::string_view name) {
  if (name == "SESSION_START") return v1::OUTBOUND_STATE_SESSION_START;
  if (name == "MESSAGE_START") return v1::OUTBOUND_STATE_MESSAGE_START;
  if (name == "PER_RECIPIENT") return v1::OUTBOUND_STATE_PER_RECIPIENT;
  if (name == "DATA_OR_BDAT") return v1::OUTBOUND_STATE_DATA_OR_BDAT;
  if (name == "SESSION_END") return v1::OUTBOUND_STATE_SESSION_END;
  throw std::invalid_argument("unknown next_state: " + std::string(name));
}

v1::CacheScope ParseScope(std::string_view name) {
  if (name.empty()) return v1::CACHE_SCOPE_UNSPECIFIED;
  if (name == "client_address") return v1::CACHE_SCOPE_CLIENT_ADDRESS;
  if (name == "sender") return v1::CACHE_SCOPE_SENDER;
  if (name == "recipient") return v1::CACHE_SCOPE_RECIPIENT;
  if (name == "session") return v1::CACHE_SCOPE_SESSION;
  throw std::invalid_argument("unknown cache_scope: " + std::string(name));
}

}  // namespace

std::string EchoReason(const EventContext& ctx) {
  std::string out;
  out += "type=" + std::string(v1::EventTypeName(ctx.type()));
  out += ";keyword=" + ctx.keyword();
  out += ";arg=" + ctx.argument();
  out += ";sender=" + ctx.sender();
  out += ";rcpt=" + ctx.envelope().recipient();
  out += ";rcpts=" + std::to_string(ctx.envelope().recipients_size());
  out += ";client=" + ctx.client_address();
  out += ";helo=" + ctx.helo();
  out += ";headers=" + std::to_string(ctx.message().headers_size());
  out += ";body=" + std::to_string(ctx.message().body().size());
  out += ";binding=" + ctx.binding().name();
  out += ";instance=" + std::to_string(ctx.session().instance());
  return out;
}

Verdict BuildConformanceVerdict(const EventContext& ctx) {
  if (ctx.property("fail").value_or("") == "1") {
    throw std::runtime_error("conformance: asked to fail");
  }
  Verdict v = BaseVerdict(ctx.property("verdict").value_or(""));
  if (auto reply = ctx.property("reply"); reply && !reply->empty()) ApplyReply(v, *reply);
  if (auto cmd = ctx.property("set_command")) v.SetCommand(std::string(*cmd));
  if (auto append = ctx.property("append")) v.Append(std::string(*append));
  if (auto state = ctx.property("next_state")) v.NextState(ParseState(*state));
  if (auto edits = ctx.property("edits")) ApplyEdits(v, *edits);
  if (auto ttl = ctx.property("cache_ttl_ms")) {
    v.CacheFor(std::chrono::milliseconds(ToNumber(*ttl, "cache_ttl_ms")),
               ParseScope(ctx.property("cache_scope").value_or("")));
  }
  if (auto tags = ctx.property("tags"); tags && !tags->empty()) {
    for (auto& tag : Split(*tags, ',')) v.Tag(std::move(tag));
  }
  if (auto reason = ctx.property("reason")) {
    v.Reason(*reason == "@echo" ? EchoReason(ctx) : std::string(*reason));
  }
  return v;
}

}  // namespace smtpbridge::conformance
