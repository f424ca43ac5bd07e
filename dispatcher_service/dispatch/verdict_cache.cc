#include "dispatch/verdict_cache.h"

#include <cctype>

#include "smtpbridge/common/event_keys.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {
std::string VerdictCache::Key(const std::string& binding, const v1::Event& event,
                              v1::CacheScope scope, const std::string& scope_key) {
  std::string key = binding;
  key += '\0';
  key += std::to_string(event.type());
  key += '\0';
  key += std::to_string(static_cast<int>(scope));
  key += '\0';
  key += scope_key;
  return key;
}

std::optional<v1::Verdict> VerdictCache::Lookup(const std::string& binding, const v1::Event& event,
                                                Clock::TimePoint now) {
  std::lock_guard lock(mu_);
  const auto scopes = scopes_by_binding_.find(binding);
  if (scopes == scopes_by_binding_.end() || !common::Cacheable(event)) return std::nullopt;
  for (int s = v1::CACHE_SCOPE_UNSPECIFIED; s <= v1::CACHE_SCOPE_SESSION; ++s) {
    if (!(scopes->second & (1u << s))) continue;
    const auto scope = static_cast<v1::CacheScope>(s);
    const std::string scope_key = common::ScopeKey(scope, event);
    if (scope_key.empty()) continue;
    const auto it = index_.find(Key(binding, event, scope, scope_key));
    if (it == index_.end()) continue;
    if (it->second->expires <= now) {
      lru_.erase(it->second);
      index_.erase(it);
      continue;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->verdict;
  }
  return std::nullopt;
}

void VerdictCache::Store(const std::string& binding, const v1::Event& event,
                         const v1::Verdict& verdict, Clock::TimePoint now) {
  const auto ttl = v1::FromProtoDuration(verdict.cache_ttl());
  if (ttl <= std::chrono::nanoseconds::zero() || capacity_ == 0 || !common::Cacheable(event))
    return;
  const v1::CacheScope scope = verdict.cache_scope();
  const std::string scope_key = common::ScopeKey(scope, event);
  if (scope_key.empty()) return;
  std::string key = Key(binding, event, scope, scope_key);
  std::lock_guard lock(mu_);
  scopes_by_binding_[binding] |= 1u << static_cast<int>(scope);
  if (const auto it = index_.find(key); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(
      Entry{key, verdict, now + std::chrono::duration_cast<Clock::TimePoint::duration>(ttl)});
  index_.emplace(std::move(key), lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

void VerdictCache::Clear() {
  std::lock_guard lock(mu_);
  lru_.clear();
  index_.clear();
  scopes_by_binding_.clear();
}

size_t VerdictCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace smtpbridge::dispatcher
