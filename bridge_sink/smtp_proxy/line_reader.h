// Splits a byte stream into CRLF-terminated lines (RFC 5321 §2.3.8: only CRLF ends a line).
// Pure, no I/O: the session appends what it read and takes complete lines out. A line longer
// than the limit is not buffered: the reader drops bytes until the next CRLF and reports one
// over-long line, so a hostile client cannot grow the buffer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace smtpbridge::proxy {

struct Line {
  // The line without its CRLF (empty when too_long). Valid until the next Append()/Next().
  std::string_view text;
  // Longer than the limit (CRLF included): its bytes were dropped.
  bool too_long = false;
  // Contains a CR or LF that is not part of the terminating CRLF.
  bool bare_cr_or_lf = false;
};

class LineReader {
 public:
  explicit LineReader(size_t max_line_with_crlf) : max_(max_line_with_crlf) {}

  void set_limit(size_t max_line_with_crlf) { max_ = max_line_with_crlf; }
  void Append(std::string_view bytes);
  std::optional<Line> Next();
  // Bytes buffered but not yet returned as lines.
  size_t buffered() const { return buf_.size() - pos_; }
  bool HasCompleteLine() const;
  // Takes up to `n` raw buffered bytes (BDAT chunks); returns what was available.
  std::string TakeRaw(size_t n);
  // Drops everything buffered (plaintext pipelined after STARTTLS).
  void Clear();

 private:
  void Compact();

  std::string buf_;
  size_t pos_ = 0;
  size_t max_;
  bool discarding_ = false;
};

}  // namespace smtpbridge::proxy
