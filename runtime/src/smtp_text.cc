#include "smtpbridge/v1/smtp_text.h"

#include <cstdio>

namespace smtpbridge::v1 {
namespace {

// Length of the valid UTF-8 sequence at text[i], or 0 when it is not one.
size_t Utf8Length(std::string_view text, size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  size_t len = 0;
  if (c < 0x80) {
    return 1;
  } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
    len = 2;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
  } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
    len = 4;
  }
  if (len == 0 || i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return 0;
  }
  const auto c1 = static_cast<unsigned char>(text[i + 1]);
  if (len == 3 && ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)))
    return 0;  // overlong, surrogates
  if (len == 4 && ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90))) return 0;
  return len;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 5322 atext, plus UTF-8 (RFC 6531).
bool IsAtext(char c) {
  if (IsAlpha(c) || IsDigit(c) || static_cast<unsigned char>(c) >= 0x80) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool IsDigits(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// Dot-string: atoms separated by single dots.
bool IsDotString(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (s[i - 1] == '.') return false;
    } else if (!IsAtext(s[i])) {
      return false;
    }
  }
  return true;
}

// Quoted-string: qtextSMTP (32-33, 35-91, 93-126, UTF-8) and quoted-pairSMTP ("\" 32-126).
bool IsQuotedString(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;
      const auto n = static_cast<unsigned char>(s[++i]);
      if (n < 32 || n > 126) return false;
    } else if (c == '"' || c < 32 || c == 127) {
      return false;
    }
  }
  return true;
}

// sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str] (U-labels allowed).
bool IsDomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) dot = s.size();
    const auto label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      if (!IsAlpha(c) && !IsDigit(c) && c != '-' && static_cast<unsigned char>(c) < 0x80)
        return false;
    }
    start = dot + 1;
    if (dot == s.size()) break;
  }
  return true;
}

// "[192.0.2.1]", "[IPv6:2001:db8::1]": dcontent is 33-90 / 94-126.
bool IsAddressLiteral(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']') return false;
  }
  return true;
}

bool IsEsmtpKeyword(std::string_view s) {
  if (s.empty() || !(IsAlpha(s[0]) || IsDigit(s[0]))) return false;
  for (char c : s) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '-') return false;
  }
  return true;
}

// esmtp-value: 1*(%d33-60 / %d62-126), UTF-8 allowed (RFC 6531).
bool IsEsmtpValue(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c == '=' || c == 127) return false;
  }
  return true;
}

}  // namespace

bool IsUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8Length(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string Utf8Safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8Length(text, i);
    if (len == 0) {
      out += '?';
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string EscapeForLog(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out;
}

bool IsReplyText(std::string_view text) {
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  }
  return true;
}

bool IsEnhancedCode(std::string_view text) {
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') {
    return false;
  }
  const auto rest = text.substr(2);
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos) return false;
  return IsDigits(rest.substr(0, dot), 3) && IsDigits(rest.substr(dot + 1), 3);
}

bool IsHeaderName(std::string_view name) {
  if (name.empty() || name.size() > 997) return false;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return true;
}

bool IsHeaderValue(std::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\0') return false;
    if (c == '\n') return false;  // only as part of CRLF, handled below
    if (c == '\r') {
      if (i + 2 >= value.size() || value[i + 1] != '\n' ||
          (value[i + 2] != ' ' && value[i + 2] != '\t')) {
        return false;
      }
      i += 1;  // skip the LF; the WSP is ordinary text
    }
  }
  return true;
}

bool IsMailbox(std::string_view address) {
  if (address.empty() || address.size() > 254) return false;
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) {
    // RFC 5321 4.1.1.3: "Postmaster" without a domain is a valid recipient.
    if (address.size() != 10) return false;
    for (size_t i = 0; i < address.size(); ++i) {
      if ((address[i] | 0x20) != "postmaster"[i]) return false;
    }
    return true;
  }
  const auto local = address.substr(0, at);
  const auto domain = address.substr(at + 1);
  if (local.empty() || local.size() > 64 * 4) return false;  // 64 characters, UTF-8 octets
  if (!IsDotString(local) && !IsQuotedString(local)) return false;
  if (!IsUtf8(address)) return false;
  return IsDomain(domain) || IsAddressLiteral(domain);
}

bool IsEsmtpParameters(std::string_view parameters) {
  if (parameters.empty()) return true;
  size_t start = 0;
  while (true) {
    size_t space = parameters.find(' ', start);
    const auto param = parameters.substr(
        start, space == std::string_view::npos ? std::string_view::npos : space - start);
    const auto eq = param.find('=');
    if (!IsEsmtpKeyword(param.substr(0, eq))) return false;
    if (eq != std::string_view::npos && !IsEsmtpValue(param.substr(eq + 1))) return false;
    if (space == std::string_view::npos) return true;
    start = space + 1;
  }
}

std::string OneLine(std::string_view text) {
  std::string out = Utf8Safe(text);
  for (char& ch : out) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) ch = ' ';
  }
  return out;
}

}  // namespace smtpbridge::v1
