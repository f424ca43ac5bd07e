// The log line format every smtpbridge binary offers (--log-format): "text" (the default,
// "2026-12-06T00:10:00.123456Z info message") or "json", one object per line for log
// collectors: {"ts":"…","level":"info","logger":"dispatcher","msg":"…"} with the message
// JSON-escaped. UTC timestamps either way.
#pragma once

#include <string>

namespace smtpbridge::logging {

inline constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v";

// Applies `format` ("text" or "json") to every spdlog logger; false for anything else.
bool SetFormat(const std::string& format);

// `text` escaped for a JSON string (quotes, backslashes, control characters).
std::string JsonEscape(const std::string& text);

}  // namespace smtpbridge::logging
