// The message a client sent in DATA, kept as the exact dot-stuffed bytes so it is relayed
// unchanged, with a parsed header section for the `_EOD` event and milter-style header edits.
// Pure, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smtpbridge::proxy {

class MessageData {
 public:
  struct HeaderField {
    std::string name;
    // The field as on the wire (dot-stuffed), folded lines and the final CRLF included.
    std::string raw;
  };

  // `raw`: every line CRLF-terminated and dot-stuffed, without the terminating ".\r\n".
  explicit MessageData(std::string raw);

  const std::vector<HeaderField>& headers() const { return headers_; }
  // name, value (without the leading space, unstuffed, folding CRLF kept).
  std::vector<std::pair<std::string, std::string>> HeaderValues() const;
  // The body without dot-stuffing, at most `limit` octets.
  std::string Body(size_t limit, bool* truncated) const;
  // Size of the message without dot-stuffing (what the recipient gets).
  uint64_t size() const { return size_; }
  // The bytes to send after DATA's 354, without the final ".\r\n": the original bytes unless an
  // edit changed them.
  std::string Wire() const;
  bool edited() const { return edited_; }

  // Edits. They fail (returning false with `error`) on a name or value that could break the
  // header section (CR/LF other than folding, ':' or space in a name, NUL).
  bool AddHeader(std::string_view name, std::string_view value, std::string* error);
  bool InsertHeader(size_t index, std::string_view name, std::string_view value,
                    std::string* error);
  // occurrence: 1-based, 0 = first. Empty value deletes; a missing field is added.
  bool ChangeHeader(std::string_view name, uint32_t occurrence, std::string_view value,
                    std::string* error);
  // Any line ending in `body` is normalised to CRLF; lines are dot-stuffed.
  void ReplaceBody(std::string_view body);

  // Dot-stuffs `text` whose lines end in CRLF (adds "." before lines that start with ".").
  static std::string Stuff(std::string_view text);

 private:
  bool MakeField(std::string_view name, std::string_view value, HeaderField* field,
                 std::string* error) const;

  std::string raw_;
  std::vector<HeaderField> headers_;
  size_t body_offset_ = 0;  // start of the body in raw_ (after the empty line, if any)
  bool has_separator_ = false;
  bool body_replaced_ = false;
  std::string new_body_;  // stuffed, when body_replaced_
  uint64_t size_ = 0;
  bool edited_ = false;
};

}  // namespace smtpbridge::proxy
