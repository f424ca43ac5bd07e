#include "core/fresh_cache.h"

#include <cctype>
#include <string_view>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::sink {
namespace {

constexpr int kMaxScope = v1::CACHE_SCOPE_SESSION;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Keyword and argument from Command.keyword/argument or, when those are empty, split from
// Command.line (as the dispatcher's rules read them).
std::string_view Keyword(const v1::Command& command) {
  if (!command.keyword().empty()) return command.keyword();
  std::string_view line = command.line();
  return line.substr(0, line.find(' '));
}

std::string_view Argument(const v1::Command& command) {
  if (!command.keyword().empty() || !command.argument().empty()) return command.argument();
  std::string_view line = command.line();
  const auto space = line.find(' ');
  if (space == std::string_view::npos) return {};
  line.remove_prefix(space + 1);
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  return line;
}

std::string Recipient(const v1::Event& event) {
  const auto& env = event.envelope();
  if (!env.recipient().empty()) return env.recipient();
  if (event.type() == v1::EVENT_TYPE_PER_RECIPIENT &&
      env.recipient_index() < static_cast<uint32_t>(env.recipients_size())) {
    return env.recipients(static_cast<int>(env.recipient_index()));
  }
  return {};
}

bool Cacheable(const v1::Event& event) {
  return Keyword(event.command()) != "_EOD" && !event.has_message();
}

// Length-prefixed, so no byte inside a field can make two keys collide.
void Add(std::string* key, std::string_view field) {
  *key += std::to_string(field.size());
  *key += ':';
  *key += field;
}

}  // namespace

std::string FreshCache::ScopeKey(v1::CacheScope scope, const v1::Event& event) {
  switch (scope) {
    case v1::CACHE_SCOPE_CLIENT_ADDRESS:
      return event.session().client().address();
    case v1::CACHE_SCOPE_SENDER:
      return event.envelope().has_sender() ? "<" + Lower(event.envelope().sender()) + ">" : "";
    case v1::CACHE_SCOPE_RECIPIENT:
      return Lower(Recipient(event));
    case v1::CACHE_SCOPE_SESSION:
      return event.session().session_id();
    default:
      return "-";  // the command itself, already in the match key
  }
}

std::string FreshCache::MatchKey(const v1::Event& event) {
  std::string key;
  Add(&key, std::to_string(event.session().instance()));
  Add(&key, std::to_string(static_cast<int>(event.type())));
  Add(&key, Lower(Keyword(event.command())));
  Add(&key, Argument(event.command()));
  Add(&key, event.type() == v1::EVENT_TYPE_SERVER_RESPONSE
                ? std::to_string(event.response().code())
                : std::string());
  Add(&key, event.type() == v1::EVENT_TYPE_CONNECT ? event.session().client().address()
                                                   : std::string());
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
  if (ttl <= std::chrono::nanoseconds::zero() || !Cacheable(event)) return;
  const v1::CacheScope scope = verdict.cache_scope();
  if (scope < 0 || scope > kMaxScope) return;  // a scope this sink does not know
  const std::string scope_key = ScopeKey(scope, event);
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
  if (scopes == 0 || !Cacheable(event)) return std::nullopt;
  const std::string match_key = MatchKey(event);
  for (int s = 0; s <= kMaxScope; ++s) {
    if (!(scopes & (1u << s))) continue;
    const auto scope = static_cast<v1::CacheScope>(s);
    const std::string scope_key = ScopeKey(scope, event);
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
