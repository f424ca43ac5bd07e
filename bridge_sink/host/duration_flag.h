// A duration given on a host's command line ("20ms", "10s"), or a clear error naming the flag.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::host {

inline std::chrono::microseconds DurationFlag(const std::string& text, const std::string& flag) {
  const auto d = v1::ParseDurationText(text);
  if (!d || *d <= std::chrono::nanoseconds(0))
    throw std::runtime_error(flag + ": expected a duration like \"20ms\", got \"" + text + "\"");
  return std::chrono::duration_cast<std::chrono::microseconds>(*d);
}

// The same for a connection timeout: at least 1ms ("500ms" must not truncate to 0).
inline std::chrono::milliseconds MillisecondsFlag(const std::string& text,
                                                  const std::string& flag) {
  const auto d = DurationFlag(text, flag);
  if (d < std::chrono::milliseconds(1))
    throw std::runtime_error(flag + ": expected at least 1ms, got \"" + text + "\"");
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

}  // namespace smtpbridge::host
