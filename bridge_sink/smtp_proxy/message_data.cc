#include "message_data.h"

#include <algorithm>
#include <cctype>

namespace smtpbridge::proxy {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A header field name: printable ASCII except ':' (RFC 5322 ftext).
bool IsFieldName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c > ' ' && c < 0x7f && c != ':'; });
}

std::string Unstuff(std::string_view stuffed) {
  std::string out;
  out.reserve(stuffed.size());
  bool line_start = true;
  for (size_t i = 0; i < stuffed.size(); ++i) {
    const char c = stuffed[i];
    if (line_start && c == '.') {
      line_start = false;
      continue;
    }
    out += c;
    line_start = c == '\n' && i > 0 && stuffed[i - 1] == '\r';
  }
  return out;
}

size_t CountStuffedDots(std::string_view stuffed) {
  size_t n = stuffed.empty() || stuffed.front() != '.' ? 0 : 1;
  for (size_t pos = stuffed.find("\r\n."); pos != std::string_view::npos;
       pos = stuffed.find("\r\n.", pos + 2))
    ++n;
  return n;
}

}  // namespace

MessageData::MessageData(std::string raw) : raw_(std::move(raw)) {
  size_ = raw_.size() - CountStuffedDots(raw_);
  size_t pos = 0;
  while (pos < raw_.size()) {
    const size_t eol = raw_.find("\r\n", pos);
    if (eol == std::string::npos) break;  // not a complete line: body
    std::string_view line(raw_.data() + pos, eol - pos);
    if (line.empty()) {
      has_separator_ = true;
      pos = eol + 2;
      break;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !headers_.empty()) {
      headers_.back().raw.append(raw_, pos, eol + 2 - pos);
      pos = eol + 2;
      continue;
    }
    std::string_view unstuffed = line.front() == '.' ? line.substr(1) : line;
    const size_t colon = unstuffed.find(':');
    if (colon == std::string_view::npos) break;  // not a header: the body starts here
    std::string_view name = unstuffed.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (!IsFieldName(name)) break;
    headers_.push_back(HeaderField{std::string(name), raw_.substr(pos, eol + 2 - pos)});
    pos = eol + 2;
  }
  body_offset_ = pos;
}

std::vector<std::pair<std::string, std::string>> MessageData::HeaderValues() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(headers_.size());
  for (const auto& field : headers_) {
    std::string text = Unstuff(field.raw);
    size_t colon = text.find(':');
    std::string value = text.substr(colon + 1);
    if (value.size() >= 2) value.resize(value.size() - 2);  // the final CRLF
    if (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    out.emplace_back(field.name, std::move(value));
  }
  return out;
}

std::string MessageData::Body(size_t limit, bool* truncated) const {
  std::string body =
      body_replaced_ ? Unstuff(new_body_) : Unstuff(std::string_view(raw_).substr(body_offset_));
  *truncated = body.size() > limit;
  if (*truncated) body.resize(limit);
  return body;
}

std::string MessageData::Wire() const {
  if (!edited_) return raw_;
  std::string out;
  for (const auto& field : headers_) out += field.raw;
  if (has_separator_ || body_replaced_) out += "\r\n";
  if (body_replaced_) {
    out += new_body_;
  } else {
    out.append(raw_, body_offset_, std::string::npos);
  }
  return out;
}

std::string MessageData::Stuff(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  bool line_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    if (line_start && text[i] == '.') out += '.';
    out += text[i];
    line_start = text[i] == '\n';
  }
  return out;
}

bool MessageData::MakeField(std::string_view name, std::string_view value, HeaderField* field,
                            std::string* error) const {
  if (!IsFieldName(name)) {
    *error = "invalid header name";
    return false;
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\0') {
      *error = "NUL in header value";
      return false;
    }
    if (c == '\n') {
      *error = "bare LF in header value";
      return false;
    }
    if (c == '\r') {
      // Only folding is allowed: CRLF followed by SP or HTAB.
      if (i + 2 >= value.size() || value[i + 1] != '\n' ||
          (value[i + 2] != ' ' && value[i + 2] != '\t')) {
        *error = "CR in header value that is not folding";
        return false;
      }
      ++i;
    }
  }
  std::string text = std::string(name) + ": " + std::string(value) + "\r\n";
  *field = HeaderField{std::string(name), Stuff(text)};
  return true;
}

bool MessageData::AddHeader(std::string_view name, std::string_view value, std::string* error) {
  HeaderField field;
  if (!MakeField(name, value, &field, error)) return false;
  headers_.push_back(std::move(field));
  edited_ = true;
  return true;
}

bool MessageData::InsertHeader(size_t index, std::string_view name, std::string_view value,
                               std::string* error) {
  HeaderField field;
  if (!MakeField(name, value, &field, error)) return false;
  headers_.insert(headers_.begin() + static_cast<std::ptrdiff_t>(std::min(index, headers_.size())),
                  std::move(field));
  edited_ = true;
  return true;
}

bool MessageData::ChangeHeader(std::string_view name, uint32_t occurrence, std::string_view value,
                               std::string* error) {
  const uint32_t wanted = occurrence == 0 ? 1 : occurrence;
  uint32_t seen = 0;
  for (size_t i = 0; i < headers_.size(); ++i) {
    if (!EqualsIgnoreCase(headers_[i].name, name) || ++seen != wanted) continue;
    if (value.empty()) {
      headers_.erase(headers_.begin() + static_cast<std::ptrdiff_t>(i));
      edited_ = true;
      return true;
    }
    HeaderField field;
    if (!MakeField(headers_[i].name, value, &field, error)) return false;
    headers_[i] = std::move(field);
    edited_ = true;
    return true;
  }
  if (value.empty()) return true;  // deleting a field that is not there
  return AddHeader(name, value, error);
}

void MessageData::ReplaceBody(std::string_view body) {
  std::string normalized;
  normalized.reserve(body.size() + 2);
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '\r') {
      normalized += "\r\n";
      if (i + 1 < body.size() && body[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      normalized += "\r\n";
    } else {
      normalized += c;
    }
  }
  if (!normalized.empty() && normalized.back() != '\n') normalized += "\r\n";
  new_body_ = Stuff(normalized);
  body_replaced_ = true;
  edited_ = true;
  size_t header_size = 0;
  for (const auto& field : headers_) header_size += field.raw.size() - CountStuffedDots(field.raw);
  size_ = header_size + 2 + normalized.size();
}

}  // namespace smtpbridge::proxy
