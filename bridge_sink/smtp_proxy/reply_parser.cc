#include "reply_parser.h"

#include <cctype>

namespace smtpbridge::proxy {

ReplyParser::Status ReplyParser::Fail(std::string why) {
  error_ = std::move(why);
  reply_ = Reply{};
  started_ = false;
  return Status::kMalformed;
}

ReplyParser::Status ReplyParser::Feed(std::string_view line) {
  if (line.size() > kMaxLineLength) return Fail("reply line too long");
  if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
      !std::isdigit(static_cast<unsigned char>(line[1])) ||
      !std::isdigit(static_cast<unsigned char>(line[2]))) {
    return Fail("reply line without a 3-digit code");
  }
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (code < 200 || code > 599) return Fail("reply code out of range");
  bool last = true;
  if (line.size() > 3) {
    if (line[3] == '-') {
      last = false;
    } else if (line[3] != ' ') {
      return Fail("reply code not followed by SP or '-'");
    }
  }
  if (started_ && code != reply_.code) return Fail("multi-line reply changes its code");
  if (reply_.lines.size() >= kMaxLines) return Fail("reply has too many lines");
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return Fail("control character in reply");
  }
  std::string enhanced;
  std::string rest;
  if (SplitEnhancedCode(code, text, &enhanced, &rest)) {
    if (!started_) reply_.enhanced = enhanced;
    reply_.lines.push_back(rest);
  } else {
    reply_.lines.emplace_back(text);
  }
  reply_.code = code;
  started_ = true;
  return last ? Status::kComplete : Status::kNeedMore;
}

Reply ReplyParser::Take() {
  Reply out = std::move(reply_);
  reply_ = Reply{};
  started_ = false;
  return out;
}

}  // namespace smtpbridge::proxy
