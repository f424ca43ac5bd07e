#include "smtpbridge/common/rfc3339.h"

#include <cstdio>
#include <ctime>

namespace smtpbridge::common {

std::string Rfc3339(std::chrono::system_clock::time_point at) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(at);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(at - secs).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(micros));
  return buf;
}

}  // namespace smtpbridge::common
