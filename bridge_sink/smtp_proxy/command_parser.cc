#include "command_parser.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace smtpbridge::proxy {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsAtext(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

struct VerbEntry {
  std::string_view name;
  Verb verb;
};
constexpr std::array<VerbEntry, 14> kVerbs{{
    {"HELO", Verb::kHelo},
    {"EHLO", Verb::kEhlo},
    {"MAIL", Verb::kMail},
    {"RCPT", Verb::kRcpt},
    {"DATA", Verb::kData},
    {"BDAT", Verb::kBdat},
    {"RSET", Verb::kRset},
    {"NOOP", Verb::kNoop},
    {"VRFY", Verb::kVrfy},
    {"EXPN", Verb::kExpn},
    {"HELP", Verb::kHelp},
    {"QUIT", Verb::kQuit},
    {"STARTTLS", Verb::kStartTls},
    {"AUTH", Verb::kAuth},
}};

bool IsValidDomain(std::string_view d) {
  if (d.empty() || d.size() > kMaxDomainLength) return false;
  if (d.front() == '[') {
    if (d.size() < 3 || d.back() != ']') return false;
    for (char c : d.substr(1, d.size() - 2)) {
      if (c <= ' ' || c >= 0x7f || c == '[' || c == ']' || c == '\\') return false;
    }
    return true;
  }
  size_t label = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    const char c = d[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    // '_' is not in RFC 5321's sub-domain, but real hosts use it in HELO names.
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

bool IsValidLocalPart(std::string_view l) {
  if (l.empty() || l.size() > kMaxLocalPartLength) return false;
  if (l.front() == '"') {
    if (l.size() < 2 || l.back() != '"') return false;
    for (size_t i = 1; i + 1 < l.size(); ++i) {
      const char c = l[i];
      if (c == '\\') {
        if (++i + 1 >= l.size()) return false;
        continue;
      }
      if (c == '"' || c < ' ' || c >= 0x7f) return false;
    }
    return true;
  }
  // Dot-string, tolerating consecutive dots as deployed MTAs do.
  return std::all_of(l.begin(), l.end(), [](char c) { return IsAtext(c) || c == '.'; });
}

// Validates the inside of <...>; strips a source route. Returns false on bad syntax.
bool ParsePath(std::string_view inner, bool allow_null, bool allow_postmaster,
               std::string* address) {
  if (inner.empty()) {
    address->clear();
    return allow_null;
  }
  if (inner.front() == '@') {
    // RFC 5321 §4.1.2: source routes are accepted and ignored.
    const size_t colon = inner.find(':');
    if (colon == std::string_view::npos) return false;
    inner.remove_prefix(colon + 1);
    if (inner.empty()) return false;
  }
  if (allow_postmaster && inner.size() == 10 && StartsWithIgnoreCase(inner, "POSTMASTER")) {
    *address = std::string(inner);
    return true;
  }
  // The last '@' outside a quoted local part splits local part and domain.
  size_t at = std::string_view::npos;
  bool quoted = false;
  for (size_t i = 0; i < inner.size(); ++i) {
    const char c = inner[i];
    if (quoted && c == '\\') {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '@') at = i;
  }
  if (quoted || at == std::string_view::npos) return false;
  if (!IsValidLocalPart(inner.substr(0, at)) || !IsValidDomain(inner.substr(at + 1))) return false;
  *address = std::string(inner);
  return true;
}

// Finds the '>' that closes the path starting at s[0] == '<', honouring quoted strings.
size_t FindPathEnd(std::string_view s) {
  bool quoted = false;
  for (size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted && c == '\\') {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '>') return i;
  }
  return std::string_view::npos;
}

bool ParseParameters(std::string_view s, std::vector<std::pair<std::string, std::string>>* out) {
  while (true) {
    while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
    if (s.empty()) return true;
    size_t end = 0;
    while (end < s.size() && !IsSpace(s[end])) ++end;
    std::string_view param = s.substr(0, end);
    s.remove_prefix(end);
    const size_t eq = param.find('=');
    std::string_view key = param.substr(0, eq);
    if (key.empty() || !std::isalnum(static_cast<unsigned char>(key.front()))) return false;
    for (char c : key) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    std::string_view value;
    if (eq != std::string_view::npos) {
      value = param.substr(eq + 1);
      if (value.empty()) return false;
      for (char c : value) {
        if (c == '=' || c <= ' ' || c >= 0x7f) return false;
      }
    }
    out->emplace_back(Upper(key), std::string(value));
  }
}

void ParseMailOrRcpt(Command& cmd, bool is_mail) {
  const std::string_view prefix = is_mail ? "FROM:" : "TO:";
  const Reply syntax = is_mail ? MakeReply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
                               : MakeReply(501, "5.5.4", "Syntax: RCPT TO:<address>");
  const Reply bad_address = is_mail ? MakeReply(501, "5.1.7", "Bad sender address syntax")
                                    : MakeReply(501, "5.1.3", "Bad recipient address syntax");
  std::string_view arg = cmd.argument;
  if (!StartsWithIgnoreCase(arg, prefix)) {
    cmd.error = syntax;
    return;
  }
  arg.remove_prefix(prefix.size());
  while (!arg.empty() && IsSpace(arg.front())) arg.remove_prefix(1);  // "FROM: <a@b>"
  if (arg.empty() || arg.front() != '<') {
    cmd.error = syntax;
    return;
  }
  const size_t close = FindPathEnd(arg);
  if (close == std::string_view::npos) {
    cmd.error = syntax;
    return;
  }
  if (close + 1 > kMaxPathLength) {
    cmd.error = MakeReply(501, "5.5.4", "Path too long");
    return;
  }
  if (!ParsePath(arg.substr(1, close - 1), is_mail, !is_mail, &cmd.address)) {
    cmd.error = bad_address;
    return;
  }
  std::string_view rest = arg.substr(close + 1);
  if (!rest.empty() && !IsSpace(rest.front())) {
    cmd.error = syntax;
    return;
  }
  if (!ParseParameters(rest, &cmd.parameters)) {
    cmd.error = MakeReply(501, "5.5.4", "Bad parameter syntax");
  }
}

void ParseBdat(Command& cmd) {
  std::string_view arg = cmd.argument;
  size_t n = 0;
  while (n < arg.size() && std::isdigit(static_cast<unsigned char>(arg[n]))) ++n;
  if (n == 0 || n > 18) {
    cmd.error = MakeReply(501, "5.5.4", "Syntax: BDAT size [LAST]");
    return;
  }
  uint64_t size = 0;
  for (size_t i = 0; i < n; ++i) size = size * 10 + static_cast<uint64_t>(arg[i] - '0');
  cmd.chunk_size = size;
  std::string_view rest = TrimSpaces(arg.substr(n));
  if (rest.empty()) return;
  if (n < arg.size() && IsSpace(arg[n]) && rest.size() == 4 && StartsWithIgnoreCase(rest, "LAST")) {
    cmd.last_chunk = true;
    return;
  }
  cmd.error = MakeReply(501, "5.5.4", "Syntax: BDAT size [LAST]");
}

}  // namespace

std::string_view VerbName(Verb verb) {
  for (const auto& e : kVerbs) {
    if (e.verb == verb) return e.name;
  }
  return "UNKNOWN";
}

bool IsValidHeloName(std::string_view name) { return IsValidDomain(name); }

Command ParseCommand(std::string_view line) {
  Command cmd;
  cmd.line = std::string(line);
  for (char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u >= 0x7f) {
      cmd.error = MakeReply(500, "5.5.2", "Error: invalid character in command");
      return cmd;
    }
  }
  std::string_view rest = TrimSpaces(line);
  if (rest.empty()) {
    cmd.error = MakeReply(500, "5.5.2", "Error: bad syntax");
    return cmd;
  }
  size_t verb_end = 0;
  while (verb_end < rest.size() && !IsSpace(rest[verb_end])) ++verb_end;
  cmd.keyword = Upper(rest.substr(0, verb_end));
  cmd.argument = std::string(TrimSpaces(rest.substr(verb_end)));
  for (const auto& e : kVerbs) {
    if (e.name == cmd.keyword) cmd.verb = e.verb;
  }

  auto no_argument = [&](std::string_view usage) {
    if (!cmd.argument.empty()) cmd.error = MakeReply(501, "5.5.4", usage);
  };
  switch (cmd.verb) {
    case Verb::kHelo:
    case Verb::kEhlo:
      if (cmd.argument.empty()) {
        cmd.error =
            MakeReply(501, "5.5.4",
                      cmd.verb == Verb::kHelo ? "Syntax: HELO hostname" : "Syntax: EHLO hostname");
      } else if (!IsValidDomain(cmd.argument)) {
        cmd.error = MakeReply(501, "5.5.2", "Invalid HELO/EHLO hostname");
      } else {
        cmd.domain = cmd.argument;
      }
      break;
    case Verb::kMail:
      ParseMailOrRcpt(cmd, true);
      break;
    case Verb::kRcpt:
      ParseMailOrRcpt(cmd, false);
      break;
    case Verb::kData:
      no_argument("Syntax: DATA");
      break;
    case Verb::kRset:
      no_argument("Syntax: RSET");
      break;
    case Verb::kQuit:
      no_argument("Syntax: QUIT");
      break;
    case Verb::kStartTls:
      no_argument("Syntax: STARTTLS");
      break;
    case Verb::kBdat:
      ParseBdat(cmd);
      break;
    case Verb::kVrfy:
    case Verb::kExpn:
      if (cmd.argument.empty())
        cmd.error = MakeReply(501, "5.5.4", "Syntax: " + cmd.keyword + " address");
      break;
    case Verb::kAuth:
      if (cmd.argument.empty()) cmd.error = MakeReply(501, "5.5.4", "Syntax: AUTH mechanism");
      break;
    case Verb::kNoop:
    case Verb::kHelp:
    case Verb::kUnknown:
      break;
  }
  return cmd;
}

std::string FormatParameters(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    out += ' ';
    out += key;
    if (!value.empty()) {
      out += '=';
      out += value;
    }
  }
  return out;
}

std::string Command::Canonical() const {
  switch (verb) {
    case Verb::kHelo:
    case Verb::kEhlo:
      return keyword + " " + domain;
    case Verb::kMail:
      return "MAIL FROM:<" + address + ">" + FormatParameters(parameters);
    case Verb::kRcpt:
      return "RCPT TO:<" + address + ">" + FormatParameters(parameters);
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      return keyword;
    default:
      return argument.empty() ? keyword : keyword + " " + argument;
  }
}

std::optional<Reply> CheckMailParameters(
    const std::vector<std::pair<std::string, std::string>>& params, bool allow_8bitmime,
    uint64_t* size) {
  *size = 0;
  for (const auto& [key, value] : params) {
    if (key == "SIZE") {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return MakeReply(501, "5.5.4", "Bad SIZE parameter");
      }
      *size = std::stoull(value);
    } else if (key == "BODY") {
      const std::string v = Upper(value);
      if (v != "7BIT" && !(allow_8bitmime && v == "8BITMIME")) {
        return MakeReply(501, "5.5.4", "Unsupported BODY parameter");
      }
    } else {
      return MakeReply(555, "5.5.4", "Unsupported MAIL FROM parameter " + key);
    }
  }
  return std::nullopt;
}

}  // namespace smtpbridge::proxy
