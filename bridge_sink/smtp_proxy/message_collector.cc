#include "message_collector.h"

#include "message_data.h"

namespace smtpbridge::proxy {

bool DataCollector::Add(const Line& line) {
  if (line.too_long) {
    too_long_ = true;
    return false;
  }
  if (line.text == ".") return true;
  if (line.bare_cr_or_lf) bare_ = true;
  const bool stuffed = !line.text.empty() && line.text.front() == '.';
  size_ += line.text.size() - (stuffed ? 1 : 0) + 2;
  if (size_ > max_size_) {
    if (!too_big_) std::string().swap(raw_);
    too_big_ = true;
  }
  if (!too_big_ && !bare_ && !too_long_) {
    raw_.append(line.text);
    raw_.append("\r\n");
  }
  return false;
}

std::optional<Reply> DataCollector::Refusal() const {
  // RFC 5321 §2.3.8: refused, not normalised; see docs/proxy.md.
  if (bare_) return MakeReply(554, "5.6.0", "Error: bare CR or LF in message data");
  if (too_long_) return MakeReply(554, "5.6.0", "Error: message line too long");
  if (too_big_) return MakeReply(552, "5.3.4", "Error: message size exceeds fixed limit");
  return std::nullopt;
}

std::optional<Reply> ChunkedToData(std::string* message) {
  const std::string& m = *message;
  for (size_t i = 0; i < m.size(); ++i) {
    const bool bare = (m[i] == '\r' && (i + 1 >= m.size() || m[i + 1] != '\n')) ||
                      (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'));
    if (bare) return MakeReply(554, "5.6.0", "Error: bare CR or LF in message data");
  }
  if (!message->empty() && message->back() != '\n') *message += "\r\n";
  *message = MessageData::Stuff(*message);
  return std::nullopt;
}

}  // namespace smtpbridge::proxy
