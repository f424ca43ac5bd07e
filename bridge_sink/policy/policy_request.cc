#include "policy/policy_request.h"

namespace smtpbridge::policy {

std::string PolicyRequest::Get(std::string_view name) const {
  for (auto it = attributes.rbegin(); it != attributes.rend(); ++it)
    if (it->first == name) return it->second;
  return {};
}

bool PolicyRequest::Has(std::string_view name) const {
  for (const auto& [k, v] : attributes)
    if (k == name) return true;
  return false;
}

RequestReader::Status RequestReader::Fail(std::string why) {
  error_ = std::move(why);
  buffer_.clear();
  return Status::kError;
}

RequestReader::Status RequestReader::Next(PolicyRequest& out) {
  if (!error_.empty()) return Status::kError;
  for (;;) {
    const auto nl = buffer_.find('\n', scanned_);
    if (nl == std::string::npos) {
      if (buffer_.size() - scanned_ > limits_.max_line)
        return Fail("line longer than " + std::to_string(limits_.max_line) + " bytes");
      if (current_size_ + (buffer_.size() - scanned_) > limits_.max_request)
        return Fail("request larger than " + std::to_string(limits_.max_request) + " bytes");
      if (scanned_ > 0) {
        buffer_.erase(0, scanned_);
        scanned_ = 0;
      }
      return Status::kNeedMore;
    }
    std::string_view line(buffer_.data() + scanned_, nl - scanned_);
    if (line.size() > limits_.max_line)
      return Fail("line longer than " + std::to_string(limits_.max_line) + " bytes");
    scanned_ = nl + 1;
    current_size_ += line.size() + 1;
    if (current_size_ > limits_.max_request)
      return Fail("request larger than " + std::to_string(limits_.max_request) + " bytes");
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (current_.attributes.empty()) return Fail("empty request");
      out = std::move(current_);
      current_ = PolicyRequest{};
      current_size_ = 0;
      return Status::kRequest;
    }
    const auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return Fail("malformed attribute line (expected name=value)");
    if (line.find('\0') != std::string_view::npos) return Fail("NUL byte in attribute");
    if (current_.attributes.size() >= limits_.max_attributes)
      return Fail("more than " + std::to_string(limits_.max_attributes) + " attributes");
    current_.attributes.emplace_back(std::string(line.substr(0, eq)),
                                     std::string(line.substr(eq + 1)));
  }
}

}  // namespace smtpbridge::policy
