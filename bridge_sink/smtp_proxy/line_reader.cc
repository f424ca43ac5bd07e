#include "line_reader.h"

#include <cstring>

namespace smtpbridge::proxy {

void LineReader::Append(std::string_view bytes) {
  Compact();
  buf_.append(bytes.data(), bytes.size());
}

void LineReader::Compact() {
  if (pos_ > 0 && (pos_ >= buf_.size() || pos_ > 4096)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

bool LineReader::HasCompleteLine() const {
  return std::string_view(buf_).substr(pos_).find("\r\n") != std::string_view::npos;
}

std::optional<Line> LineReader::Next() {
  std::string_view rest = std::string_view(buf_).substr(pos_);
  const size_t crlf = rest.find("\r\n");
  if (crlf == std::string_view::npos) {
    if (discarding_ || rest.size() > max_) {
      // Keep a trailing CR: it may pair with an LF in the next read.
      discarding_ = true;
      const bool keep_cr = !rest.empty() && rest.back() == '\r';
      pos_ = buf_.size() - (keep_cr ? 1 : 0);
      Compact();
    }
    return std::nullopt;
  }
  pos_ += crlf + 2;
  if (discarding_ || crlf + 2 > max_) {
    discarding_ = false;
    return Line{std::string_view(), true, false};
  }
  std::string_view text = rest.substr(0, crlf);
  const bool bare = text.find_first_of("\r\n") != std::string_view::npos;
  return Line{text, false, bare};
}

std::string LineReader::TakeRaw(size_t n) {
  const size_t take = std::min(n, buf_.size() - pos_);
  std::string out = buf_.substr(pos_, take);
  pos_ += take;
  return out;
}

void LineReader::Clear() {
  buf_.clear();
  pos_ = 0;
  discarding_ = false;
}

}  // namespace smtpbridge::proxy
