// What the dispatcher's bindings want (Dispatcher.GetInterests), as an immutable snapshot that
// the hot path reads through one atomic shared_ptr load; a background refresh replaces it.
// Before the first successful refresh every event counts as wanted.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "smtpbridge/v1/dispatcher.pb.h"

namespace smtpbridge::sink {

class InterestsSnapshot {
 public:
  explicit InterestsSnapshot(const v1::GetInterestsResponse& response);

  bool Wants(uint32_t instance, v1::EventType type, std::string_view keyword) const;
  uint32_t BodyLimit(uint32_t instance) const;
  uint64_t generation() const { return generation_; }

 private:
  struct Entry {
    bool any_keyword = false;
    std::set<std::string, std::less<>> keywords;  // upper case
  };
  // Key: (instance, event type); instance 0 in an Interest means every instance.
  std::map<std::pair<uint32_t, int>, Entry> entries_;
  std::map<uint32_t, uint32_t> body_limits_;
  uint64_t generation_ = 0;
};

class Interests {
 public:
  explicit Interests(uint32_t unknown_body_limit) : unknown_body_limit_(unknown_body_limit) {}

  bool Wants(uint32_t instance, v1::EventType type, std::string_view keyword) const;
  uint32_t BodyLimit(uint32_t instance) const;

  void Update(const v1::GetInterestsResponse& response);
  bool known() const { return snapshot_.load() != nullptr; }

 private:
  const uint32_t unknown_body_limit_;
  std::atomic<std::shared_ptr<const InterestsSnapshot>> snapshot_;
};

}  // namespace smtpbridge::sink
