// The Postfix SMTPD access policy delegation protocol, request side: `name=value` lines ended
// by an empty line, several requests per connection. Pure: no I/O, fuzzable.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smtpbridge::policy {

// Postfix's own attributes are short; ccert_subject and friends stay well under 4 KiB.
inline constexpr std::size_t kMaxLineLength = 8 * 1024;
inline constexpr std::size_t kMaxAttributes = 128;
inline constexpr std::size_t kMaxRequestSize = 64 * 1024;

struct PolicyRequest {
  // In the order received; a repeated name keeps its last value in Get().
  std::vector<std::pair<std::string, std::string>> attributes;
  // Value of `name`, or empty.
  std::string Get(std::string_view name) const;
  bool Has(std::string_view name) const;
};

// Splits a byte stream into requests. Feed what the socket read, then take requests until it
// says it needs more. After an error it stays failed (the connection must be closed).
class RequestReader {
 public:
  struct Limits {
    std::size_t max_line = kMaxLineLength;
    std::size_t max_attributes = kMaxAttributes;
    std::size_t max_request = kMaxRequestSize;
  };
  RequestReader() = default;
  explicit RequestReader(Limits limits) : limits_(limits) {}

  void Feed(std::string_view bytes) { buffer_.append(bytes); }

  enum class Status { kRequest, kNeedMore, kError };
  Status Next(PolicyRequest& out);
  const std::string& error() const { return error_; }

 private:
  Status Fail(std::string why);

  Limits limits_;
  std::string buffer_;
  std::size_t scanned_ = 0;  // start of the first line not yet parsed
  PolicyRequest current_;
  std::size_t current_size_ = 0;
  std::string error_;
};

}  // namespace smtpbridge::policy
