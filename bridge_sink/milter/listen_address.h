// Where the milter listens, in the spellings Postfix and Sendmail use for milter sockets:
// "inet:127.0.0.1:8891", "inet:8891@127.0.0.1", "127.0.0.1:8891", "[::1]:8891",
// "unix:/run/smtpbridge.sock", "local:/run/smtpbridge.sock".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace smtpbridge::milter {

struct ListenAddress {
  bool is_unix = false;
  std::string host;  // TCP: an IPv4/IPv6 literal
  uint16_t port = 0;
  std::string path;  // unix socket path
};

std::optional<ListenAddress> ParseListenAddress(const std::string& text, std::string* error);

}  // namespace smtpbridge::milter
