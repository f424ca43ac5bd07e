// Admission control: the dispatcher bounds what it holds. An event takes one slot of the global
// in-flight limit until it is answered, and each worker call one slot of its pool's (target's)
// concurrency limit until the call's outcome is known. Over either limit the fan-out answers the
// event at once as shed (smtpbridge/v1/shed.h) — no call goes out, nothing waits in a queue past
// its budget — and the sink answers from its fallback, reason `shed`.
//
// Counts are kept even when unlimited: in_flight() is the real gauge of events held.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "dispatch/adaptive_limiter.h"
#include "dispatch/clock.h"
#include "dispatch/concurrency_limiter.h"

namespace smtpbridge::dispatcher {

struct AdmissionOptions {
  size_t max_in_flight = 0;  // events held at once; 0: unlimited
  size_t pool_limit = 0;     // calls in flight per worker pool; 0: unlimited (fixed limit)
  // Makes each pool's limit adaptive (adaptive_limiter.h); pool_limit then caps it.
  bool adaptive = false;
  GradientOptions gradient{};
};

// Why an event was shed (the marker's reason and the metrics label).
inline constexpr const char* kShedInFlight = "in_flight";
inline constexpr const char* kShedPoolLimit = "pool_limit";

class Admission {
 public:
  explicit Admission(AdmissionOptions options = {}) : options_(options) {}
  virtual ~Admission() = default;

  // A slot for one event; false (and nothing taken) when max_in_flight events are held.
  bool AdmitEvent();
  void EventDone() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

  // The limiter of the pool at `target`, created on first use.
  std::shared_ptr<ConcurrencyLimiter> Pool(const std::string& target);
  // Forgets the pools of targets not in `targets` (a reload removed them); calls still holding
  // a slot keep their limiter until they end.
  void Retain(const std::set<std::string>& targets);

  size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  const AdmissionOptions& options() const { return options_; }

  struct PoolView {
    std::string target;
    size_t in_flight = 0;
    size_t limit = 0;  // 0: unlimited
  };
  std::vector<PoolView> pools() const;

 protected:
  // The limiter a new pool gets (adaptive or fixed).
  virtual std::shared_ptr<ConcurrencyLimiter> MakeLimiter();

 private:
  const AdmissionOptions options_;
  std::atomic<size_t> in_flight_{0};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<ConcurrencyLimiter>> pools_;
};

}  // namespace smtpbridge::dispatcher
