// The production Timers over common::TimerThread: what Cancel answers, and Stop. (The thread
// itself, order and wake-ups, is tested through the dispatcher's ThreadClock.) Behaviour only:
// every wait is bounded generously and nothing asserts how long it took.
#include "core/thread_timers.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>

namespace smtpbridge::sink {
namespace {

using std::chrono::seconds;

TEST(ThreadTimersTest, CancelSaysWhetherItDroppedTheCallback) {
  ThreadTimers timers;
  auto held = std::make_shared<int>(1);
  std::atomic<bool> ran{false};
  const TimerId pending =
      timers.Schedule(timers.Now() + seconds(3600), [&ran, held] { ran = true; });
  EXPECT_TRUE(timers.Cancel(pending));
  EXPECT_EQ(held.use_count(), 1);          // released at Cancel
  EXPECT_FALSE(timers.Cancel(pending));    // already cancelled
  EXPECT_FALSE(timers.Cancel(TimerId{}));  // never scheduled
  std::promise<void> fired;
  const TimerId due = timers.Schedule(timers.Now(), [&] { fired.set_value(); });
  ASSERT_EQ(fired.get_future().wait_for(seconds(10)), std::future_status::ready);
  EXPECT_FALSE(timers.Cancel(due));  // already ran
  EXPECT_FALSE(ran);
}

TEST(ThreadTimersTest, StopDropsPendingCallbacksAndLaterSchedulesNeverRun) {
  auto held = std::make_shared<int>(1);
  ThreadTimers timers;
  const TimerId before = timers.Schedule(timers.Now() + seconds(3600), [held] {});
  timers.Stop();
  timers.Stop();  // idempotent
  EXPECT_EQ(held.use_count(), 1);
  EXPECT_FALSE(timers.Cancel(before));
  const TimerId after = timers.Schedule(timers.Now(), [] { FAIL() << "ran after Stop"; });
  EXPECT_NE(after, before);
  EXPECT_FALSE(timers.Cancel(after));
}

}  // namespace
}  // namespace smtpbridge::sink
