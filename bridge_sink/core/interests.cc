#include "core/interests.h"

#include <algorithm>
#include <cctype>

namespace smtpbridge::sink {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

}  // namespace

InterestsSnapshot::InterestsSnapshot(const v1::GetInterestsResponse& response)
    : generation_(response.generation()) {
  for (const v1::Interest& interest : response.interests()) {
    Entry& entry = entries_[{interest.instance(), static_cast<int>(interest.event())}];
    if (interest.keywords().empty()) entry.any_keyword = true;
    for (const std::string& k : interest.keywords()) {
      if (k.empty() || k == "*") {
        entry.any_keyword = true;
      } else {
        entry.keywords.insert(Upper(k));
      }
    }
    uint32_t& limit = body_limits_[interest.instance()];
    limit = std::max(limit, interest.body_limit());
  }
}

bool InterestsSnapshot::Wants(uint32_t instance, v1::EventType type,
                              std::string_view keyword) const {
  for (uint32_t inst : {instance, 0u}) {
    auto it = entries_.find({inst, static_cast<int>(type)});
    if (it == entries_.end()) continue;
    const Entry& e = it->second;
    if (keyword.empty() || e.any_keyword) return true;
    if (e.keywords.count(Upper(keyword)) > 0) return true;
  }
  return false;
}

uint32_t InterestsSnapshot::BodyLimit(uint32_t instance) const {
  uint32_t limit = 0;
  for (uint32_t inst : {instance, 0u}) {
    if (auto it = body_limits_.find(inst); it != body_limits_.end()) {
      limit = std::max(limit, it->second);
    }
  }
  return limit;
}

bool Interests::Wants(uint32_t instance, v1::EventType type, std::string_view keyword) const {
  const auto snapshot = snapshot_.load(std::memory_order_acquire);
  return snapshot == nullptr || snapshot->Wants(instance, type, keyword);
}

uint32_t Interests::BodyLimit(uint32_t instance) const {
  const auto snapshot = snapshot_.load(std::memory_order_acquire);
  return snapshot == nullptr ? unknown_body_limit_ : snapshot->BodyLimit(instance);
}

void Interests::Update(const v1::GetInterestsResponse& response) {
  snapshot_.store(std::make_shared<const InterestsSnapshot>(response), std::memory_order_release);
}

}  // namespace smtpbridge::sink
