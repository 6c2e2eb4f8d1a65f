#include "nilecare/router/retry_budget.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

namespace nilecare::router {
namespace {

TEST(RetryBudgetTest, TheMinimumAppliesWithFewCalls) {
  RetryBudget budget(20, 3);
  EXPECT_EQ(budget.Limit(), 3);
  EXPECT_TRUE(budget.TryStartRetry());
  EXPECT_TRUE(budget.TryStartRetry());
  EXPECT_TRUE(budget.TryStartRetry());
  EXPECT_FALSE(budget.TryStartRetry());
  EXPECT_EQ(budget.ActiveRetries(), 3);
  EXPECT_EQ(budget.Rejected(), 1u);
  budget.RetryFinished();
  EXPECT_TRUE(budget.TryStartRetry());
  EXPECT_FALSE(budget.TryStartRetry());
  EXPECT_EQ(budget.Rejected(), 2u);
}

TEST(RetryBudgetTest, ThePercentageAppliesWithManyCalls) {
  RetryBudget budget(20, 3);
  for (int i = 0; i < 100; ++i) budget.CallStarted();
  EXPECT_EQ(budget.ActiveCalls(), 100);
  EXPECT_EQ(budget.Limit(), 20);
  int started = 0;
  for (int i = 0; i < 100; ++i) started += budget.TryStartRetry() ? 1 : 0;
  EXPECT_EQ(started, 20);
  EXPECT_EQ(budget.Rejected(), 80u);
  // 19 calls -> 3.8 rounds down to 3 (also the minimum); 24 calls -> 4.8 -> 4.
  for (int i = 0; i < 81; ++i) budget.CallFinished();
  EXPECT_EQ(budget.Limit(), 3);
  for (int i = 0; i < 5; ++i) budget.CallStarted();
  EXPECT_EQ(budget.Limit(), 4);
  // Retries above a shrunken limit are not revoked, but no new one starts.
  EXPECT_FALSE(budget.TryStartRetry());
  for (int i = 0; i < 17; ++i) budget.RetryFinished();
  EXPECT_EQ(budget.ActiveRetries(), 3);
  EXPECT_TRUE(budget.TryStartRetry());
  EXPECT_FALSE(budget.TryStartRetry());
}

TEST(RetryBudgetTest, NegativeSettingsMeanNoRetries) {
  RetryBudget budget(-5, -1);
  budget.CallStarted();
  EXPECT_EQ(budget.Limit(), 0);
  EXPECT_FALSE(budget.TryStartRetry());
}

TEST(RetryBudgetTest, ActiveCallCountsForItsLifetime) {
  RetryBudget budget(20, 3);
  {
    ActiveCall call(budget);
    EXPECT_EQ(budget.ActiveCalls(), 1);
    ActiveCall moved(std::move(call));
    EXPECT_EQ(budget.ActiveCalls(), 1);
    ActiveCall other(budget);
    EXPECT_EQ(budget.ActiveCalls(), 2);
    other = std::move(moved);  // releases other's own call
    EXPECT_EQ(budget.ActiveCalls(), 1);
    other.Release();
    EXPECT_EQ(budget.ActiveCalls(), 0);
  }
  EXPECT_EQ(budget.ActiveCalls(), 0);
}

TEST(RetryBudgetTest, RetrySlotHoldsOneRetry) {
  RetryBudget budget(0, 2);
  {
    RetrySlot first = RetrySlot::TryAcquire(budget);
    RetrySlot second = RetrySlot::TryAcquire(budget);
    RetrySlot third = RetrySlot::TryAcquire(budget);
    EXPECT_TRUE(first);
    EXPECT_TRUE(second.Held());
    EXPECT_FALSE(third);
    EXPECT_EQ(budget.ActiveRetries(), 2);
    EXPECT_EQ(budget.Rejected(), 1u);
    RetrySlot moved(std::move(first));
    EXPECT_FALSE(first.Held());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(budget.ActiveRetries(), 2);
    second = RetrySlot();  // releases
    EXPECT_EQ(budget.ActiveRetries(), 1);
  }
  EXPECT_EQ(budget.ActiveRetries(), 0);
}

TEST(RetryBudgetTest, ConcurrentRetriesNeverExceedTheLimit) {
  RetryBudget budget(10, 5);
  for (int i = 0; i < 200; ++i) budget.CallStarted();  // limit 20
  constexpr int kThreads = 8;
  std::atomic<std::int64_t> peak{0};
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!budget.TryStartRetry()) continue;
        ++granted;
        const auto now = budget.ActiveRetries();
        auto seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        budget.RetryFinished();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(peak.load(), 20);
  EXPECT_GT(granted.load(), 0);
  EXPECT_EQ(budget.ActiveRetries(), 0);
  EXPECT_EQ(budget.Rejected() + static_cast<std::uint64_t>(granted.load()),
            static_cast<std::uint64_t>(kThreads) * 20000u);
}

}  // namespace
}  // namespace nilecare::router
