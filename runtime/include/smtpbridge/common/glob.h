// Case-insensitive shell-style globs: `*`, `?` and `[...]` classes (`[a-z]`, `[!0-9]` / `[^0-9]`).
// The one glob of smtpbridge: binding rules, the sink's local rules and the example worker all
// accept exactly this syntax. Compiled once at load time; matching does not allocate.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace smtpbridge::common {

class Glob {
 public:
  // nullopt with `error` set when the pattern is malformed (an unterminated `[`).
  static std::optional<Glob> Compile(std::string_view pattern, std::string* error);

  bool Matches(std::string_view subject) const;
  const std::string& pattern() const { return pattern_; }
  // True for "*" (matches everything, so the matcher can skip the argument work).
  bool MatchesAll() const { return matches_all_; }

 private:
  explicit Glob(std::string pattern);
  std::string pattern_;  // lower-cased
  bool matches_all_ = false;
};

}  // namespace smtpbridge::common
