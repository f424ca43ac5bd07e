// Stale-while-down cache: the dispatcher's recent verdicts, keyed by what makes two events
// equivalent (instance, event type, keyword, argument, client address). Filled from every
// dispatcher answer, read only on fallback. Entries expire after `ttl`; the least recently used
// go first once `max_entries` is reached. Thread-safe.
#pragma once

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

class StaleCache {
 public:
  explicit StaleCache(const StaleCacheOptions& options) : options_(options) {}

  // Whether verdicts for this event may be cached at all: not for `_EOD` (its verdict is about
  // one message's content, not reusable for the next message).
  static bool Cacheable(const v1::Event& event);

  void Put(const v1::Event& event, const v1::Verdict& verdict, SteadyTime now);
  std::optional<v1::Verdict> Get(const v1::Event& event, SteadyTime now);

  std::size_t size() const;

 private:
  struct Entry {
    std::string key;
    v1::Verdict verdict;
    SteadyTime expires;
  };
  static std::string KeyOf(const v1::Event& event);

  const StaleCacheOptions options_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace smtpbridge::sink
