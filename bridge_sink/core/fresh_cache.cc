#include "core/fresh_cache.h"

#include <cctype>
#include <string_view>

#include "smtpbridge/common/event_keys.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::sink {
namespace {

constexpr int kMaxScope = v1::CACHE_SCOPE_SESSION;

// Length-prefixed, so no byte inside a field can make two keys collide.
void Add(std::string* key, std::string_view field) {
  *key += std::to_string(field.size());
  *key += ':';
  *key += field;
}

}  // namespace

std::string FreshCache::MatchKey(const v1::Event& event) {
  std::string key;
  Add(&key, std::to_string(event.session().instance()));
  Add(&key, std::to_string(static_cast<int>(event.type())));
  Add(&key, common::CommandKey(event));
  return key;
}

std::string FreshCache::Key(const std::string& match_key, v1::CacheScope scope,
                            const std::string& scope_key) {
  std::string key = match_key;
  Add(&key, std::to_string(static_cast<int>(scope)));
  Add(&key, scope_key);
  return key;
}

void FreshCache::Put(const v1::Event& event, const v1::Verdict& verdict,
                     const std::string& decided_by, SteadyTime now) {
  if (!options_.enabled || options_.max_entries == 0) return;
  const auto ttl = v1::FromProtoDuration(verdict.cache_ttl());
  if (ttl <= std::chrono::nanoseconds::zero() || !common::Cacheable(event)) return;
  const v1::CacheScope scope = verdict.cache_scope();
  if (scope < 0 || scope > kMaxScope) return;  // a scope this sink does not know
  const std::string scope_key = common::ScopeKey(scope, event);
  if (scope_key.empty()) return;
  std::string key = Key(MatchKey(event), scope, scope_key);
  const SteadyTime expires = now + std::chrono::duration_cast<SteadyTime::duration>(ttl);
  std::lock_guard lock(mu_);
  scopes_.fetch_or(1u << static_cast<unsigned>(scope), std::memory_order_relaxed);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->hit = Hit{verdict, decided_by};
    it->second->expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  while (lru_.size() >= options_.max_entries) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{key, Hit{verdict, decided_by}, expires});
  index_.emplace(std::move(key), lru_.begin());
}

std::optional<FreshCache::Hit> FreshCache::Get(const v1::Event& event, SteadyTime now) {
  const unsigned scopes = scopes_.load(std::memory_order_relaxed);
  if (scopes == 0 || !common::Cacheable(event)) return std::nullopt;
  const std::string match_key = MatchKey(event);
  for (int s = 0; s <= kMaxScope; ++s) {
    if (!(scopes & (1u << s))) continue;
    const auto scope = static_cast<v1::CacheScope>(s);
    const std::string scope_key = common::ScopeKey(scope, event);
    if (scope_key.empty()) continue;
    const std::string key = Key(match_key, scope, scope_key);
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) continue;
    if (it->second->expires <= now) {
      lru_.erase(it->second);
      index_.erase(it);
      continue;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->hit;
  }
  return std::nullopt;
}

void FreshCache::Clear() {
  std::lock_guard lock(mu_);
  lru_.clear();
  index_.clear();
  scopes_.store(0, std::memory_order_relaxed);
}

std::size_t FreshCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace smtpbridge::sink
