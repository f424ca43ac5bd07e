// Work a host has started and not finished (an event being evaluated and its reply not yet
// written), so a drain can wait for exactly that and no longer.
#pragma once

#include <atomic>
#include <cstdint>

namespace smtpbridge::host {

class InFlight {
 public:
  // Counts one piece of work for its lifetime.
  class Scope {
   public:
    explicit Scope(InFlight& owner) : owner_(owner) {
      owner_.count_.fetch_add(1, std::memory_order_relaxed);
    }
    ~Scope() { owner_.count_.fetch_sub(1, std::memory_order_release); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    InFlight& owner_;
  };

  uint64_t count() const { return count_.load(std::memory_order_acquire); }

 private:
  std::atomic<uint64_t> count_{0};
};

}  // namespace smtpbridge::host
