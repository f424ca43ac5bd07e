// The example worker's policy: reject recipients matching globs (from flags and from the
// binding's `blocked` (or `blocked_recipients`) property), add a header at end of data; plus test
// behaviours that make it slow (timer, no thread held), failing (UNAVAILABLE) or silent (never
// answers).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "delay_scheduler.h"
#include "smtpbridge/worker/worker.h"

namespace smtpbridge::example {

struct ExamplePolicyOptions {
  std::string name = "example";
  // Recipient globs to reject, e.g. "blocked@*".
  std::vector<std::string> reject_rcpt{};
  // Header added at `_EOD`, as name and value.
  std::optional<std::pair<std::string, std::string>> add_header{};
  // Answer every event this much later (without holding a thread).
  std::chrono::nanoseconds delay{0};
  // Fraction of events answered with UNAVAILABLE, 0..1.
  double fail_rate = 0;
  // Never answer; calls end only when the caller cancels or the worker shuts down.
  bool hang = false;
  // > 0: every verdict except `_EOD`'s says it may be reused this long (Verdict.cache_ttl,
  // scope UNSPECIFIED: the same command from any client), so the dispatcher and the sinks
  // answer repeats from their caches.
  std::chrono::nanoseconds cache_ttl{0};
};

// "X-Policy: checked" -> {"X-Policy", "checked"}; nullopt without a name or a colon.
std::optional<std::pair<std::string, std::string>> ParseHeaderFlag(std::string_view text);

class ExamplePolicy {
 public:
  explicit ExamplePolicy(ExamplePolicyOptions options);

  // Registers the handlers on `worker`; this policy must outlive the worker's serving.
  void Register(worker::Worker& worker);

  // The decisions themselves, without the test behaviours.
  worker::Verdict OnRecipient(const worker::EventContext& ctx) const;
  worker::Verdict OnEndOfData(const worker::EventContext& ctx) const;

 private:
  worker::AsyncHandler Shaped(worker::Handler decide);
  bool Blocked(const worker::EventContext& ctx, const std::string& recipient) const;
  bool ShouldFail() const;

  ExamplePolicyOptions options_;
  DelayScheduler delays_;
};

}  // namespace smtpbridge::example
