// Rate-limited warnings with simulated time: a burst is cut to the per-window allowance and the
// suppressed count is written when the window ends, by the timer, with no later warning needed;
// exactly once.
#include "dispatch/rate_limited_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes.h"

namespace smtpbridge::dispatcher {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::FakeClock;

TEST(RateLimitedLog, TheSuppressedCountIsWrittenWhenTheWindowEndsWithoutALaterWarning) {
  FakeClock clock;
  std::vector<std::string> lines;
  RateLimitedLog log(&clock, "worker warning(s)", 20, 1s,
                     [&](const std::string& line) { lines.push_back(line); });
  int allowed = 0;
  for (int i = 0; i < 500; ++i) allowed += log.Allow() ? 1 : 0;
  EXPECT_EQ(allowed, 20);
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(clock.pending_timers(), 1u);  // one timer for the whole burst
  clock.Advance(999ms);
  EXPECT_TRUE(lines.empty());
  clock.Advance(1ms);
  EXPECT_THAT(lines, ElementsAre("480 worker warning(s) suppressed in the last 1000 ms"));
  // Nothing more to say: no repeat, no timer.
  clock.Advance(10s);
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_EQ(clock.pending_timers(), 0u);
  EXPECT_EQ(log.suppressed_total(), 480u);
}

TEST(RateLimitedLog, ANewWindowAllowsAgainAndCountsAfresh) {
  FakeClock clock;
  std::vector<std::string> lines;
  RateLimitedLog log(&clock, "x", 2, 1s, [&](const std::string& line) { lines.push_back(line); });
  for (int i = 0; i < 5; ++i) log.Allow();
  clock.Advance(1s);
  EXPECT_TRUE(log.Allow());
  EXPECT_TRUE(log.Allow());
  EXPECT_FALSE(log.Allow());
  clock.Advance(1s);
  EXPECT_THAT(lines, ElementsAre("3 x suppressed in the last 1000 ms",
                                 "1 x suppressed in the last 1000 ms"));
}

TEST(RateLimitedLog, UnderTheAllowanceNothingIsSuppressedOrScheduled) {
  FakeClock clock;
  std::vector<std::string> lines;
  RateLimitedLog log(&clock, "x", 20, 1s, [&](const std::string& line) { lines.push_back(line); });
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(log.Allow());
  EXPECT_EQ(clock.pending_timers(), 0u);
  clock.Advance(5s);
  EXPECT_TRUE(lines.empty());
}

TEST(RateLimitedLog, ATimerFiringAfterTheLogIsGoneDoesNothing) {
  FakeClock clock;
  std::vector<std::string> lines;
  {
    RateLimitedLog log(&clock, "x", 1, 1s, [&](const std::string& line) { lines.push_back(line); });
    log.Allow();
    log.Allow();
  }
  clock.Advance(2s);
  EXPECT_TRUE(lines.empty());
}

}  // namespace
}  // namespace smtpbridge::dispatcher
