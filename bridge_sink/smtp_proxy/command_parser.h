// RFC 5321 command syntax, pure and without I/O (the fuzz target links only this). ParseCommand
// takes one line without its CRLF and returns the parsed command; when the line is not valid it
// still names the keyword (so the policy sees the command) and carries the exact error reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smtp_reply.h"

namespace smtpbridge::proxy {

enum class Verb {
  kHelo,
  kEhlo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kNoop,
  kVrfy,
  kExpn,
  kHelp,
  kQuit,
  kStartTls,
  kAuth,
  kUnknown,
};

struct Command {
  Verb verb = Verb::kUnknown;
  // Upper-cased verb as sent ("MAIL", "XFOO"); empty for an empty or unreadable line.
  std::string keyword;
  // Everything after the verb and its separating spaces (trailing spaces removed).
  std::string argument;
  // The line as received.
  std::string line;

  // HELO/EHLO: the domain or address literal.
  std::string domain;
  // MAIL/RCPT: the address without angle brackets or source route; empty for "<>".
  std::string address;
  // MAIL/RCPT: ESMTP parameters, keys upper-cased, in order; value empty for "KEY".
  std::vector<std::pair<std::string, std::string>> parameters;
  // BDAT.
  uint64_t chunk_size = 0;
  bool last_chunk = false;

  // Set when the line is not a valid command: the reply the client gets.
  std::optional<Reply> error;

  // The line the proxy sends upstream, rebuilt from the parsed parts (never the raw bytes).
  std::string Canonical() const;
};

// RFC 5321 §4.5.3.1 limits.
inline constexpr size_t kMaxPathLength = 256;
inline constexpr size_t kMaxLocalPartLength = 64;
inline constexpr size_t kMaxDomainLength = 255;

Command ParseCommand(std::string_view line);

// Renders MAIL/RCPT parameters back: " SIZE=10 BODY=8BITMIME" (leading space, or empty).
std::string FormatParameters(const std::vector<std::pair<std::string, std::string>>& params);

// The MAIL FROM parameters this proxy supports (SIZE, BODY=7BIT/8BITMIME); the reply for the
// first one it does not, or nullopt. `size` gets the declared SIZE (0 when absent).
std::optional<Reply> CheckMailParameters(
    const std::vector<std::pair<std::string, std::string>>& params, bool allow_8bitmime,
    uint64_t* size);

// Whether `name` is a valid HELO/EHLO argument: a domain or an address literal.
bool IsValidHeloName(std::string_view name);

std::string_view VerbName(Verb verb);

}  // namespace smtpbridge::proxy
