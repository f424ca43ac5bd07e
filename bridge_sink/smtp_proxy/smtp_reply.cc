#include "smtp_reply.h"

#include <cctype>

namespace smtpbridge::proxy {

std::string Reply::Wire() const {
  std::string out;
  const std::string code_text = std::to_string(code);
  const size_t n = lines.empty() ? 1 : lines.size();
  for (size_t i = 0; i < n; ++i) {
    out += code_text;
    out += (i + 1 == n) ? ' ' : '-';
    if (!enhanced.empty()) {
      out += enhanced;
      out += ' ';
    }
    if (i < lines.size()) out += lines[i];
    out += "\r\n";
  }
  return out;
}

std::string Reply::Text() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += " " + enhanced;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += i == 0 ? " " : " / ";
    out += lines[i];
  }
  return out;
}

Reply MakeReply(int code, std::string_view enhanced, std::string_view text) {
  return Reply{code, std::string(enhanced), {std::string(text)}};
}

bool SplitEnhancedCode(int code, std::string_view text, std::string* enhanced, std::string* rest) {
  // class "." subject(1-3 digits) "." detail(1-3 digits), then SP or end.
  size_t i = 0;
  auto digits = [&](size_t min, size_t max) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && i - start < max)
      ++i;
    return i - start >= min &&
           (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i])));
  };
  if (!digits(1, 1)) return false;
  if (text[0] - '0' != code / 100) return false;
  if (i >= text.size() || text[i] != '.') return false;
  ++i;
  if (!digits(1, 3)) return false;
  if (i >= text.size() || text[i] != '.') return false;
  ++i;
  if (!digits(1, 3)) return false;
  if (i < text.size() && text[i] != ' ') return false;
  *enhanced = std::string(text.substr(0, i));
  *rest = i < text.size() ? std::string(text.substr(i + 1)) : std::string();
  return true;
}

}  // namespace smtpbridge::proxy
