// Rate-limited warnings: at most `per_window` lines per window; the rest are counted, and the
// count ("N worker warning(s) suppressed in the last 1000 ms") is written when the window ends —
// by a timer, so it is written even when no later warning comes (a burst of worker errors that
// then stops used to leave most of itself out of the log, unsaid).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "dispatch/clock.h"

namespace smtpbridge::dispatcher {

class RateLimitedLog {
 public:
  // Writes one line (the suppressed count). Called outside the log's lock, on the caller's or
  // the clock's thread.
  using Writer = std::function<void(const std::string& line)>;

  // `clock` may be null: then the count is written only with the next allowed line. `what` names
  // the lines ("worker warning(s)"). The default writer is spdlog::warn.
  RateLimitedLog(Clock* clock, std::string what, int per_window,
                 Clock::duration window = std::chrono::seconds(1), Writer writer = {});
  // Does not touch the clock: a timer still pending finds the log gone and does nothing.
  ~RateLimitedLog();
  RateLimitedLog(const RateLimitedLog&) = delete;
  RateLimitedLog& operator=(const RateLimitedLog&) = delete;

  // Whether a line may be written now; when not, it is counted.
  bool Allow();
  uint64_t suppressed_total() const;

 private:
  struct State;
  static void Flush(const std::shared_ptr<State>& state);

  Clock* const clock_;
  std::shared_ptr<State> state_;
};

}  // namespace smtpbridge::dispatcher
