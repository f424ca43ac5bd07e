#include "bindings/rule.h"

#include <algorithm>
#include <cctype>

#include "smtpbridge/common/ascii.h"

namespace smtpbridge::dispatcher {
namespace {

using common::EqualsIgnoreCase;
using common::StartsWithIgnoreCase;

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool IsKeyword(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

bool IsReplyCodeGlob(std::string_view s) {
  return !s.empty() && std::isdigit(static_cast<unsigned char>(s.front())) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || c == '*' || c == '?' || c == '[' ||
                  c == ']' || c == '-' || c == '!';
         });
}

// The three-digit code as text, without allocating.
std::string_view CodeText(uint32_t code, char (&buf)[12]) {
  int n = 0;
  char tmp[12];
  do {
    tmp[n++] = static_cast<char>('0' + code % 10);
    code /= 10;
  } while (code != 0 && n < 11);
  for (int i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  return std::string_view(buf, n);
}

}  // namespace

std::string_view ExtractPath(std::string_view argument) {
  std::string_view s = Trim(argument);
  if (StartsWithIgnoreCase(s, "FROM:")) {
    s.remove_prefix(5);
  } else if (StartsWithIgnoreCase(s, "TO:")) {
    s.remove_prefix(3);
  }
  s = Trim(s);
  if (!s.empty() && s.front() == '<') {
    const size_t close = s.find('>');
    s = s.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  } else {
    const size_t space = s.find_first_of(" \t");
    if (space != std::string_view::npos) s = s.substr(0, space);
  }
  // RFC 5321 source route "@a,@b:user@host": keep the mailbox.
  if (!s.empty() && s.front() == '@') {
    const size_t colon = s.find(':');
    if (colon != std::string_view::npos) s.remove_prefix(colon + 1);
  }
  return s;
}

std::optional<Rule> Rule::Compile(std::string_view text, v1::EventType event, std::string* error) {
  Rule rule;
  std::string_view rest = Trim(text);
  if (rest.empty()) rest = "*";
  auto fail = [&](std::string message) {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  while (true) {
    const size_t semi = rest.find(';');
    const std::string_view part = Trim(rest.substr(0, semi));
    if (part.empty()) {
      // Tolerate a trailing ';' but not an empty alternative in the middle.
      if (semi != std::string_view::npos && !Trim(rest.substr(semi + 1)).empty()) {
        return fail("empty alternative between ';'");
      }
    } else {
      Alternative alt{Kind::kAny, {}, std::nullopt, false};
      const size_t eq = part.find('=');
      const std::string_view left = Trim(part.substr(0, eq));
      const std::string_view right =
          eq == std::string_view::npos ? std::string_view{} : Trim(part.substr(eq + 1));
      if (eq == std::string_view::npos && part == "*") {
        alt.kind = Kind::kAny;
      } else if (eq == std::string_view::npos && event == v1::EVENT_TYPE_SERVER_RESPONSE &&
                 IsReplyCodeGlob(part)) {
        alt.kind = Kind::kReplyCode;
        alt.glob = Glob::Compile(part, error);
        if (!alt.glob) return std::nullopt;
      } else if (event == v1::EVENT_TYPE_CONNECT) {
        if (!EqualsIgnoreCase(left, "CONNECT")) {
          return fail("\"" + std::string(part) +
                      "\": CONNECT bindings take \"*\" or \"CONNECT=<client address glob>\"");
        }
        alt.kind = eq == std::string_view::npos ? Kind::kAny : Kind::kClientAddress;
        if (alt.kind == Kind::kClientAddress) {
          alt.glob = Glob::Compile(right, error);
          if (!alt.glob) return std::nullopt;
        }
      } else {
        // "MAIL FROM" / "RCPT TO" qualifiers select the path; other two-word forms are typos.
        std::string_view keyword = left;
        bool path = false;
        const size_t space = left.find_first_of(" \t");
        if (space != std::string_view::npos) {
          keyword = left.substr(0, space);
          const std::string_view qualifier = Trim(left.substr(space));
          const bool ok =
              (EqualsIgnoreCase(keyword, "MAIL") && EqualsIgnoreCase(qualifier, "FROM")) ||
              (EqualsIgnoreCase(keyword, "RCPT") && EqualsIgnoreCase(qualifier, "TO"));
          if (!ok || eq == std::string_view::npos) {
            return fail("\"" + std::string(part) +
                        "\": expected KEYWORD, KEYWORD=glob, MAIL FROM=glob or RCPT TO=glob");
          }
          path = true;
        }
        if (!IsKeyword(keyword)) {
          return fail("\"" + std::string(part) + "\": \"" + std::string(keyword) +
                      "\" is not a command keyword");
        }
        alt.keyword = Upper(keyword);
        if (eq == std::string_view::npos) {
          alt.kind = Kind::kKeyword;
        } else {
          if (alt.keyword == "MAIL" || alt.keyword == "RCPT") path = true;
          alt.kind = path ? Kind::kPath : Kind::kArgument;
          if (path && right == "<>") {
            alt.null_path = true;
          } else {
            alt.glob = Glob::Compile(right, error);
            if (!alt.glob) return std::nullopt;
          }
        }
      }
      rule.alternatives_.push_back(std::move(alt));
    }
    if (semi == std::string_view::npos) break;
    rest = rest.substr(semi + 1);
  }
  if (rule.alternatives_.empty()) return fail("no alternatives");
  for (const auto& alt : rule.alternatives_) {
    if (alt.keyword.empty()) {
      rule.any_keyword_ = true;
    } else if (std::find(rule.keywords_.begin(), rule.keywords_.end(), alt.keyword) ==
               rule.keywords_.end()) {
      rule.keywords_.push_back(alt.keyword);
    }
  }
  if (rule.any_keyword_) rule.keywords_.clear();
  return rule;
}

bool Rule::CanMatchKeyword(std::string_view upper_keyword) const {
  if (any_keyword_) return true;
  return std::find(keywords_.begin(), keywords_.end(), upper_keyword) != keywords_.end();
}

bool Rule::Matches(const v1::Event& event) const {
  const std::string_view keyword = CommandKeyword(event.command());
  const std::string_view argument = CommandArgument(event.command());
  for (const auto& alt : alternatives_) {
    if (MatchesAlternative(alt, event, keyword, argument)) return true;
  }
  return false;
}

bool Rule::MatchesAlternative(const Alternative& alt, const v1::Event& event,
                              std::string_view keyword, std::string_view argument) const {
  switch (alt.kind) {
    case Kind::kAny:
      return true;
    case Kind::kKeyword:
      return EqualsIgnoreCase(keyword, alt.keyword);
    case Kind::kArgument:
      return EqualsIgnoreCase(keyword, alt.keyword) && alt.glob->Matches(Trim(argument));
    case Kind::kPath: {
      if (!EqualsIgnoreCase(keyword, alt.keyword)) return false;
      std::string_view path = ExtractPath(argument);
      if (argument.empty() && alt.keyword == "RCPT") path = event.envelope().recipient();
      if (alt.null_path) return path.empty();
      return alt.glob->Matches(path);
    }
    case Kind::kReplyCode: {
      char buf[12];
      return alt.glob->Matches(CodeText(event.response().code(), buf));
    }
    case Kind::kClientAddress:
      return alt.glob->Matches(event.session().client().address());
  }
  return false;
}

}  // namespace smtpbridge::dispatcher
