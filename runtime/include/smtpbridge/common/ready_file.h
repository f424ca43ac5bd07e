// The ready file every smtpbridge server writes once it listens (--ready-file): one line, the
// bound address. Written to PATH.tmp and renamed, so a reader (a test, a supervisor) never sees
// half a line.
#pragma once

#include <string>

namespace smtpbridge::common {

// False (with `error` set when given) when the file cannot be written or renamed.
bool WriteReadyFile(const std::string& path, const std::string& address,
                    std::string* error = nullptr);

}  // namespace smtpbridge::common
