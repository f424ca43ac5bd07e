// The message of a DATA or BDAT transaction as the client sends it, free of I/O: the RFC 5321
// rules of the data phase (only CRLF ends a line, §2.3.8; text lines of at most 1000 octets,
// §4.5.3.1.6; the size limit) decide whether it is refused, and with which reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "line_reader.h"
#include "smtp_reply.h"

namespace smtpbridge::proxy {

// DATA: lines up to the terminating ".", kept exactly as sent (dot-stuffed); nothing of an
// oversized message is kept past the limit.
class DataCollector {
 public:
  explicit DataCollector(uint64_t max_message_size) : max_size_(max_message_size) {}

  // One line read in the data phase (LineReader with the text line limit); true when it was the
  // terminating ".".
  bool Add(const Line& line);
  // Once complete: the reply refusing the message, or nullopt.
  std::optional<Reply> Refusal() const;
  // The message (CRLF-terminated, dot-stuffed lines without the final "."), once complete.
  std::string Take() { return std::move(raw_); }

 private:
  const uint64_t max_size_;
  std::string raw_;
  uint64_t size_ = 0;
  bool bare_ = false;
  bool too_long_ = false;
  bool too_big_ = false;
};

// BDAT: the octets of all chunks, once the last has arrived. The message goes upstream as DATA,
// where only CRLF may end a line: a bare CR or LF refuses it (as in DATA). Otherwise `message`
// becomes the dot-stuffed DATA form, CRLF-terminated.
std::optional<Reply> ChunkedToData(std::string* message);

}  // namespace smtpbridge::proxy
