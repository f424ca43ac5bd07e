#include "core/stale_cache.h"

#include <algorithm>
#include <cctype>

namespace smtpbridge::sink {

bool StaleCache::Cacheable(const v1::Event& event) {
  return event.command().keyword() != "_EOD" && !event.has_message();
}

std::string StaleCache::KeyOf(const v1::Event& event) {
  // Length-prefixed fields, so no separator inside a field can make two keys collide.
  std::string key;
  auto add = [&key](const std::string& field) {
    key += std::to_string(field.size());
    key += ':';
    key += field;
  };
  std::string keyword = event.command().keyword();
  std::transform(keyword.begin(), keyword.end(), keyword.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  add(std::to_string(event.session().instance()));
  add(std::to_string(static_cast<int>(event.type())));
  add(keyword);
  add(event.command().argument());
  add(event.session().client().address());
  return key;
}

void StaleCache::Put(const v1::Event& event, const v1::Verdict& verdict, SteadyTime now) {
  if (!options_.enabled || options_.max_entries == 0 || !Cacheable(event)) return;
  std::string key = KeyOf(event);
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->verdict = verdict;
    it->second->expires = now + options_.ttl;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  while (lru_.size() >= options_.max_entries) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{key, verdict, now + options_.ttl});
  index_.emplace(std::move(key), lru_.begin());
}

std::optional<v1::Verdict> StaleCache::Get(const v1::Event& event, SteadyTime now) {
  if (!options_.enabled || !Cacheable(event)) return std::nullopt;
  const std::string key = KeyOf(event);
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  if (it->second->expires <= now) {
    lru_.erase(it->second);
    index_.erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->verdict;
}

std::size_t StaleCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace smtpbridge::sink
