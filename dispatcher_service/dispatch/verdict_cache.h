// Verdicts workers allowed the dispatcher to reuse (Verdict.cache_ttl), keyed by binding, event
// type and the worker's cache_scope, as smtpbridge/common/event_keys.h defines it (the sink's
// fresh cache uses the same definition); never at end of data. Bounded, least-recently-used
// eviction, thread-safe.
#pragma once

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "dispatch/clock.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::dispatcher {

class VerdictCache {
 public:
  explicit VerdictCache(size_t capacity = 10000) : capacity_(capacity) {}

  // A live verdict for this binding and event under any scope a worker used for it.
  std::optional<v1::Verdict> Lookup(const std::string& binding, const v1::Event& event,
                                    Clock::TimePoint now);
  // Stores `verdict` when its cache_ttl is positive.
  void Store(const std::string& binding, const v1::Event& event, const v1::Verdict& verdict,
             Clock::TimePoint now);
  // Forgets everything (bindings reloaded: a binding's rule or sink may have changed).
  void Clear();
  size_t size() const;

 private:
  struct Entry {
    std::string key;
    v1::Verdict verdict;
    Clock::TimePoint expires;
  };
  static std::string Key(const std::string& binding, const v1::Event& event, v1::CacheScope scope,
                         const std::string& scope_key);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  // Which scopes a binding's workers have used, so Lookup tries only those.
  std::unordered_map<std::string, unsigned> scopes_by_binding_;
};

}  // namespace smtpbridge::dispatcher
