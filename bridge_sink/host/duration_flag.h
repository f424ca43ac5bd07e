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

}  // namespace smtpbridge::host
