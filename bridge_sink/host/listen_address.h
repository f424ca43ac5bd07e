// Where a host listens, in the spellings Postfix and Sendmail use for milter and policy sockets:
// "inet:127.0.0.1:8891", "inet:8891@127.0.0.1", "127.0.0.1:8891", "[::1]:8891",
// "unix:/run/smtpbridge.sock", "local:/run/smtpbridge.sock".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace smtpbridge::host {

struct ListenAddress {
  bool is_unix = false;
  std::string host;  // TCP: an IPv4/IPv6 literal
  uint16_t port = 0;
  std::string path;  // unix socket path
  // Unix sockets only (--socket-mode, --socket-owner): the MTA's smtpd must be able to connect,
  // which a root-owned 0755 socket does not allow (Postfix then answers 451 4.3.5).
  std::optional<unsigned> mode;  // e.g. 0660
  std::string owner;             // user name or uid; empty: unchanged
  std::string group;             // group name or gid; empty: unchanged
};

std::optional<ListenAddress> ParseListenAddress(const std::string& text, std::string* error);

// "HOST:PORT" or "[IPv6]:PORT" alone (the brackets removed): the TCP part of the above, and what
// the proxy's listen and next_hop settings take. Nullopt on an empty host or a bad port.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
std::optional<HostPort> ParseHostPort(const std::string& text);

// "0660" / "660": octal permission bits, at most 0777.
std::optional<unsigned> ParseSocketMode(const std::string& text, std::string* error);
// "USER", "USER:GROUP" or ":GROUP" into `address` (names or numeric ids, checked later).
void ParseSocketOwner(const std::string& text, ListenAddress* address);
// Applies mode, owner and group to the bound unix socket; throws std::runtime_error saying which
// step failed (an unknown user or group, chmod/chown refused).
void ApplySocketPermissions(const ListenAddress& address);

}  // namespace smtpbridge::host
