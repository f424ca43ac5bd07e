// The real clock's timers: order, cancellation, an earlier deadline waking the thread, stop.
// Behaviour only: every wait is bounded generously and nothing asserts how long it took.
#include "dispatch/thread_clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <vector>

namespace smtpbridge::dispatcher {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ThreadClockTest, RunsDueFunctionsInDeadlineOrder) {
  ThreadClock clock;
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> all;
  const auto now = clock.Now();
  auto note = [&](int i) {
    std::lock_guard lock(mu);
    order.push_back(i);
    if (order.size() == 3) all.set_value();
  };
  clock.Schedule(now + milliseconds(30), [&] { note(3); });
  clock.Schedule(now + milliseconds(10), [&] { note(1); });
  clock.Schedule(now + milliseconds(20), [&] { note(2); });
  ASSERT_EQ(all.get_future().wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(ThreadClockTest, AnEarlierDeadlineWakesTheThreadSleepingForALaterOne) {
  ThreadClock clock;
  std::atomic<bool> late_ran{false};
  std::promise<void> early;
  clock.Schedule(clock.Now() + seconds(3600), [&] { late_ran = true; });
  clock.Schedule(clock.Now() + milliseconds(1), [&] { early.set_value(); });
  EXPECT_EQ(early.get_future().wait_for(seconds(10)), std::future_status::ready);
  EXPECT_FALSE(late_ran);
}

TEST(ThreadClockTest, CancelledFunctionsNeverRunAndAreReleased) {
  ThreadClock clock;
  auto held = std::make_shared<int>(1);
  std::atomic<bool> ran{false};
  CancelFn cancel = clock.Schedule(clock.Now() + milliseconds(5), [&ran, held] { ran = true; });
  EXPECT_EQ(held.use_count(), 2);
  cancel();
  cancel();                        // twice is fine
  EXPECT_EQ(held.use_count(), 1);  // destroyed at Cancel, not at the deadline
  EXPECT_EQ(clock.pending(), 0u);
  // A later timer runs, so the cancelled one (due earlier) would have run by then.
  std::promise<void> after;
  clock.Schedule(clock.Now() + milliseconds(20), [&] { after.set_value(); });
  ASSERT_EQ(after.get_future().wait_for(seconds(10)), std::future_status::ready);
  EXPECT_FALSE(ran);
}

TEST(ThreadClockTest, CancelAfterRunningIsHarmless) {
  ThreadClock clock;
  std::promise<void> ran;
  CancelFn cancel = clock.Schedule(clock.Now(), [&] { ran.set_value(); });
  ASSERT_EQ(ran.get_future().wait_for(seconds(10)), std::future_status::ready);
  cancel();
  EXPECT_EQ(clock.pending(), 0u);
}

TEST(ThreadClockTest, StopDropsPendingTimersAndLaterSchedulesNeverRun) {
  auto held = std::make_shared<int>(1);
  ThreadClock clock;
  CancelFn cancel = clock.Schedule(clock.Now() + seconds(3600), [held] {});
  clock.Stop();
  EXPECT_EQ(held.use_count(), 1);
  cancel();  // after Stop: nothing to erase
  EXPECT_FALSE(clock.Schedule(clock.Now(), [] { FAIL() << "ran after Stop"; }));
}

}  // namespace
}  // namespace smtpbridge::dispatcher
