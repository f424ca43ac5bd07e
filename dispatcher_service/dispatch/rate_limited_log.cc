#include "dispatch/rate_limited_log.h"

#include <spdlog/spdlog.h>

namespace smtpbridge::dispatcher {

struct RateLimitedLog::State {
  std::string what;
  int per_window = 0;
  Clock::duration window{};
  Writer writer;
  std::mutex mu;
  Clock::TimePoint window_start{};
  bool started = false;
  int in_window = 0;
  uint64_t suppressed = 0;  // in the current window, not yet written
  uint64_t suppressed_total = 0;
  bool timer_armed = false;

  std::string LineLocked() const {
    return std::to_string(suppressed) + " " + what + " suppressed in the last " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(window).count()) +
           " ms";
  }
};

RateLimitedLog::RateLimitedLog(Clock* clock, std::string what, int per_window,
                               Clock::duration window, Writer writer)
    : clock_(clock), state_(std::make_shared<State>()) {
  state_->what = std::move(what);
  state_->per_window = per_window;
  state_->window = window;
  state_->writer = writer ? std::move(writer)
                          : Writer([](const std::string& line) { spdlog::warn("{}", line); });
}

RateLimitedLog::~RateLimitedLog() = default;

uint64_t RateLimitedLog::suppressed_total() const {
  std::lock_guard lock(state_->mu);
  return state_->suppressed_total;
}

void RateLimitedLog::Flush(const std::shared_ptr<State>& state) {
  std::string line;
  {
    std::lock_guard lock(state->mu);
    state->timer_armed = false;
    if (state->suppressed == 0) return;
    line = state->LineLocked();
    state->suppressed = 0;
  }
  state->writer(line);
}

bool RateLimitedLog::Allow() {
  State& s = *state_;
  const auto now = clock_ ? clock_->Now() : std::chrono::steady_clock::now();
  std::string pending;  // a count the timer has not written yet (it is late, or there is none)
  bool arm = false;
  Clock::TimePoint flush_at;
  bool allowed = false;
  {
    std::lock_guard lock(s.mu);
    if (!s.started || now - s.window_start >= s.window) {
      if (s.suppressed > 0) pending = s.LineLocked();
      s.suppressed = 0;
      s.started = true;
      s.window_start = now;
      s.in_window = 0;
    }
    if (s.in_window < s.per_window) {
      ++s.in_window;
      allowed = true;
    } else {
      ++s.suppressed;
      ++s.suppressed_total;
      if (clock_ && !s.timer_armed) {
        s.timer_armed = true;
        arm = true;
        flush_at = s.window_start + s.window;
      }
    }
  }
  if (!pending.empty()) s.writer(pending);
  if (arm) {
    std::weak_ptr<State> weak = state_;
    clock_->Schedule(flush_at, [weak] {
      if (auto state = weak.lock()) Flush(state);
    });
  }
  return allowed;
}

}  // namespace smtpbridge::dispatcher
