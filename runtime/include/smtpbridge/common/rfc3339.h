// The timestamp of smtpbridge's JSON log lines (the dispatcher's decision log, the sink's
// fallback lines): RFC 3339, UTC, microseconds, e.g. "2026-12-06T00:10:00.123456Z".
#pragma once

#include <chrono>
#include <string>

namespace smtpbridge::common {

std::string Rfc3339(std::chrono::system_clock::time_point at);
inline std::string Rfc3339Now() { return Rfc3339(std::chrono::system_clock::now()); }

}  // namespace smtpbridge::common
