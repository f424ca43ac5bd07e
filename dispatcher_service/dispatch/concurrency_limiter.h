// A concurrency limit for one worker pool: at most limit() calls in flight; a call over it is
// refused at once (the fan-out sheds its event). The limit is fixed here; an adaptive limiter
// (adaptive_limiter.h) moves it from the calls' latencies, fed through Release().
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <limits>

#include "dispatch/clock.h"

namespace smtpbridge::dispatcher {

// How one call that held a slot went.
struct CallSample {
  enum class Kind { kAnswered, kTimeout, kError, kCancelled };
  Kind kind = Kind::kAnswered;
  Clock::duration latency{};
  Clock::duration timeout{};  // the binding's timeout (what the latency is measured against)
  Clock::TimePoint now{};
};

class ConcurrencyLimiter {
 public:
  // `limit` 0: unlimited.
  explicit ConcurrencyLimiter(size_t limit = 0) : limit_(limit == 0 ? kUnlimited : limit) {}
  virtual ~ConcurrencyLimiter() = default;

  // Takes a slot; false when limit() calls are in flight already.
  bool TryAcquire() {
    size_t n = in_flight_.load(std::memory_order_relaxed);
    while (true) {
      if (n >= limit_.load(std::memory_order_relaxed)) return false;
      if (in_flight_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
    }
  }
  // Frees a slot TryAcquire took.
  void Release(const CallSample& sample) {
    const size_t before = in_flight_.fetch_sub(1, std::memory_order_relaxed);
    OnSample(sample, before);
  }

  size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // 0 when unlimited.
  size_t limit() const {
    const size_t l = limit_.load(std::memory_order_relaxed);
    return l == kUnlimited ? 0 : l;
  }

 protected:
  static constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();
  // A call ended; `in_flight` counts it. Adaptive limiters move limit_ here.
  virtual void OnSample(const CallSample& sample, size_t in_flight) {}

  std::atomic<size_t> limit_;
  std::atomic<size_t> in_flight_{0};
};

}  // namespace smtpbridge::dispatcher
