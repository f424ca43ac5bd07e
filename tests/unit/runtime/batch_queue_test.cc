// BatchQueue: what a batched stream's next message carries (smtpbridge/common/batch_queue.h).
#include "smtpbridge/common/batch_queue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace smtpbridge::common {
namespace {

using ::testing::ElementsAre;

std::vector<int> Next(BatchQueue<int>& queue) {
  std::vector<int> batch;
  const size_t n = queue.Take([&](int&& item) { batch.push_back(item); });
  EXPECT_EQ(n, batch.size());
  return batch;
}

TEST(BatchQueue, OneItemIsAMessageOfItsOwn) {
  BatchQueue<int> queue({.items = 64, .bytes = 1 << 20});
  queue.Push(7, 100);
  EXPECT_THAT(Next(queue), ElementsAre(7));
  EXPECT_TRUE(queue.empty());
  EXPECT_THAT(Next(queue), ElementsAre());
}

TEST(BatchQueue, EverythingQueuedGoesInOneMessageOldestFirst) {
  BatchQueue<int> queue({.items = 64, .bytes = 1 << 20});
  for (int i = 1; i <= 5; ++i) queue.Push(i, 100);
  EXPECT_THAT(Next(queue), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_TRUE(queue.empty());
}

TEST(BatchQueue, TheItemLimitSplitsALongQueue) {
  BatchQueue<int> queue({.items = 64, .bytes = 1 << 20});
  for (int i = 0; i < 150; ++i) queue.Push(i, 10);
  std::vector<size_t> sizes;
  std::vector<int> all;
  while (!queue.empty()) {
    const auto batch = Next(queue);
    sizes.push_back(batch.size());
    all.insert(all.end(), batch.begin(), batch.end());
  }
  EXPECT_THAT(sizes, ElementsAre(64u, 64u, 22u));
  ASSERT_EQ(all.size(), 150u);
  for (int i = 0; i < 150; ++i) EXPECT_EQ(all[i], i);
}

TEST(BatchQueue, TheByteLimitSplitsToo) {
  BatchQueue<int> queue({.items = 64, .bytes = 1000});
  for (int i = 0; i < 5; ++i) queue.Push(i, 400);
  EXPECT_THAT(Next(queue), ElementsAre(0, 1));  // 800; a third would make 1200
  EXPECT_THAT(Next(queue), ElementsAre(2, 3));
  EXPECT_THAT(Next(queue), ElementsAre(4));
}

TEST(BatchQueue, AnItemOverTheByteLimitStillGoesAlone) {
  BatchQueue<int> queue({.items = 64, .bytes = 1000});
  queue.Push(1, 100);
  queue.Push(2, 5000);
  queue.Push(3, 100);
  EXPECT_THAT(Next(queue), ElementsAre(1));
  EXPECT_THAT(Next(queue), ElementsAre(2));
  EXPECT_THAT(Next(queue), ElementsAre(3));
}

}  // namespace
}  // namespace smtpbridge::common
