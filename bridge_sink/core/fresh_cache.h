// Fresh verdict cache: verdicts the dispatcher said may be reused (Verdict.cache_ttl > 0, merged
// over every matching binding), answered from memory for equivalent events until the TTL ends,
// without a round trip. Unlike the stale cache it is consulted *before* the dispatcher, so it
// must never answer an event the dispatcher would have decided differently:
//
// - the key holds what selects the bindings (instance, event type and common::CommandKey:
//   keyword, argument, the reply code of a SERVER_RESPONSE, the client address of a CONNECT),
//   since a different argument may match different bindings;
// - plus the verdict's cache_scope and its scope key (common::ScopeKey, the dispatcher's too);
// - never for `_EOD` (common::Cacheable: a verdict about one message's content).
//
// Bounded (least recently used go first), thread-safe. Clear() when the dispatcher's bindings
// change (a new interests generation).
#pragma once

#include <atomic>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/timers.h"
#include "smtpbridge/sink/sink_factory.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::sink {

class FreshCache {
 public:
  struct Hit {
    v1::Verdict verdict;
    std::string decided_by;
  };

  explicit FreshCache(const FreshCacheOptions& options) : options_(options) {}

  // Keeps `verdict` when it carries a positive cache_ttl and the event is cacheable.
  void Put(const v1::Event& event, const v1::Verdict& verdict, const std::string& decided_by,
           SteadyTime now);
  // A live verdict for an equivalent event. Cheap (no key built) while nothing was ever stored.
  std::optional<Hit> Get(const v1::Event& event, SteadyTime now);
  void Clear();
  std::size_t size() const;

 private:
  struct Entry {
    std::string key;
    Hit hit;
    SteadyTime expires;
  };
  // The bindings-selecting part of the key.
  static std::string MatchKey(const v1::Event& event);
  static std::string Key(const std::string& match_key, v1::CacheScope scope,
                         const std::string& scope_key);

  const FreshCacheOptions options_;
  // Scopes stored so far (bit per CacheScope): Get() tries only those, and none while empty.
  std::atomic<unsigned> scopes_{0};
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace smtpbridge::sink
