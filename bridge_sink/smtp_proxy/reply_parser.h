// Assembles next-hop replies (RFC 5321 §4.2, multi-line "250-..." ... "250 ..."), pure and
// without I/O. Feed it lines without CRLF; it says when a reply is complete or malformed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "smtp_reply.h"

namespace smtpbridge::proxy {

class ReplyParser {
 public:
  enum class Status { kNeedMore, kComplete, kMalformed };

  // Bounds a multi-line reply (an EHLO reply has ~15 lines).
  static constexpr size_t kMaxLines = 128;
  static constexpr size_t kMaxLineLength = 2048;

  Status Feed(std::string_view line);
  // The reply after kComplete; resets the parser for the next one.
  Reply Take();
  // What was wrong after kMalformed.
  const std::string& error() const { return error_; }

 private:
  Status Fail(std::string why);

  Reply reply_;
  bool started_ = false;
  std::string error_;
};

}  // namespace smtpbridge::proxy
