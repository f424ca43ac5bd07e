// Case-insensitive glob match for recipient patterns: '*' any run, '?' one character.
#pragma once

#include <string_view>

namespace smtpbridge::example {

bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace smtpbridge::example
