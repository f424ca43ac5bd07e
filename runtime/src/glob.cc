#include "smtpbridge/common/glob.h"

#include <cctype>

namespace smtpbridge::common {
namespace {

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Matches the class starting at pattern[p] == '[' against c; returns the index after the
// closing ']'. The pattern was validated at compile time, so the ']' exists.
size_t MatchClass(std::string_view pattern, size_t p, char c, bool* matched) {
  ++p;
  bool negate = false;
  if (p < pattern.size() && (pattern[p] == '!' || pattern[p] == '^')) {
    negate = true;
    ++p;
  }
  bool hit = false;
  bool first = true;
  while (p < pattern.size() && (pattern[p] != ']' || first)) {
    first = false;
    char lo = pattern[p];
    if (p + 2 < pattern.size() && pattern[p + 1] == '-' && pattern[p + 2] != ']') {
      const char hi = pattern[p + 2];
      if (c >= lo && c <= hi) hit = true;
      p += 3;
    } else {
      if (c == lo) hit = true;
      ++p;
    }
  }
  *matched = hit != negate;
  return p + 1;
}

}  // namespace

Glob::Glob(std::string pattern) : pattern_(std::move(pattern)) {
  matches_all_ = pattern_.find_first_not_of('*') == std::string::npos && !pattern_.empty();
}

std::optional<Glob> Glob::Compile(std::string_view pattern, std::string* error) {
  std::string lower;
  lower.reserve(pattern.size());
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '[') {
      size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;  // a leading ']' is literal
      while (j < pattern.size() && pattern[j] != ']') ++j;
      if (j >= pattern.size()) {
        if (error) *error = "unterminated '[' in \"" + std::string(pattern) + "\"";
        return std::nullopt;
      }
    }
    lower.push_back(Lower(pattern[i]));
  }
  return Glob(std::move(lower));
}

bool Glob::Matches(std::string_view subject) const {
  if (matches_all_) return true;
  const std::string_view pat = pattern_;
  size_t p = 0, s = 0;
  size_t star_p = std::string_view::npos, star_s = 0;
  while (s < subject.size()) {
    const char c = Lower(subject[s]);
    if (p < pat.size()) {
      if (pat[p] == '*') {
        star_p = p++;
        star_s = s;
        continue;
      }
      if (pat[p] == '?') {
        ++p;
        ++s;
        continue;
      }
      if (pat[p] == '[') {
        bool matched = false;
        const size_t next = MatchClass(pat, p, c, &matched);
        if (matched) {
          p = next;
          ++s;
          continue;
        }
      } else if (pat[p] == c) {
        ++p;
        ++s;
        continue;
      }
    }
    // Mismatch: let the last '*' swallow one more character, or fail.
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;
    s = ++star_s;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

}  // namespace smtpbridge::common
