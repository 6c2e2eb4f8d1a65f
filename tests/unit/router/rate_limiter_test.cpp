#include "nilecare/router/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace nilecare::router {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = RateLimiter::Clock;

const Clock::time_point kT0 = Clock::time_point(seconds(1000));

TEST(RateLimiterTest, AllowsTheBurstThenRefuses) {
  RateLimiter limiter(1.0, 5.0, 100);
  for (int i = 0; i < 5; ++i) {
    const auto decision = limiter.Acquire("u1", kT0);
    EXPECT_TRUE(decision.allowed) << i;
    EXPECT_EQ(decision.remaining, 4.0 - i);
    EXPECT_EQ(decision.retry_after, milliseconds(0));
  }
  const auto refused = limiter.Acquire("u1", kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, milliseconds(1000));
  EXPECT_EQ(refused.remaining, 0.0);
  // A refusal costs no token.
  EXPECT_EQ(limiter.Acquire("u1", kT0 + milliseconds(999)).retry_after, milliseconds(1));
  EXPECT_TRUE(limiter.Acquire("u1", kT0 + milliseconds(1000)).allowed);
}

TEST(RateLimiterTest, KeysAreIndependent) {
  RateLimiter limiter(1.0, 1.0, 100);
  EXPECT_TRUE(limiter.Acquire("a", kT0).allowed);
  EXPECT_FALSE(limiter.Acquire("a", kT0).allowed);
  EXPECT_TRUE(limiter.Acquire("b", kT0).allowed);
  EXPECT_EQ(limiter.TrackedKeys(), 2u);
}

TEST(RateLimiterTest, RetryAfterIsTheTimeUntilOneToken) {
  RateLimiter limiter(2.0, 1.0, 100);
  EXPECT_TRUE(limiter.Acquire("k", kT0).allowed);
  EXPECT_EQ(limiter.Acquire("k", kT0).retry_after, milliseconds(500));
  EXPECT_EQ(limiter.Acquire("k", kT0 + milliseconds(100)).retry_after, milliseconds(400));
  EXPECT_EQ(limiter.Acquire("k", kT0 + milliseconds(499)).retry_after, milliseconds(1));
  const auto allowed = limiter.Acquire("k", kT0 + milliseconds(500));
  EXPECT_TRUE(allowed.allowed);
  EXPECT_NEAR(allowed.remaining, 0.0, 1e-9);

  RateLimiter thirds(3.0, 1.0, 100);
  EXPECT_TRUE(thirds.Acquire("k", kT0).allowed);
  EXPECT_EQ(thirds.Acquire("k", kT0).retry_after, milliseconds(334));  // 333.3 rounded up

  RateLimiter slow(0.5, 1.0, 100);
  EXPECT_TRUE(slow.Acquire("k", kT0).allowed);
  EXPECT_EQ(slow.Acquire("k", kT0).retry_after, milliseconds(2000));
}

TEST(RateLimiterTest, RefillsAtTheRateUpToTheBurst) {
  RateLimiter limiter(10.0, 3.0, 100);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Acquire("k", kT0).allowed);
  ASSERT_FALSE(limiter.Acquire("k", kT0).allowed);
  // 100ms at 10/s is exactly one token, despite floating-point time.
  const auto one = limiter.Acquire("k", kT0 + milliseconds(100));
  EXPECT_TRUE(one.allowed);
  EXPECT_FALSE(limiter.Acquire("k", kT0 + milliseconds(100)).allowed);
  // A long idle refills to the burst, not beyond.
  const auto later = limiter.Acquire("k", kT0 + seconds(60));
  EXPECT_TRUE(later.allowed);
  EXPECT_NEAR(later.remaining, 2.0, 1e-9);
}

TEST(RateLimiterTest, AClockReadingFromThePastDoesNotRefillOrRewind) {
  RateLimiter limiter(1.0, 1.0, 100);
  EXPECT_TRUE(limiter.Acquire("k", kT0 + seconds(5)).allowed);
  EXPECT_FALSE(limiter.Acquire("k", kT0).allowed);
  EXPECT_FALSE(limiter.Acquire("k", kT0 + seconds(5) + milliseconds(999)).allowed);
  EXPECT_TRUE(limiter.Acquire("k", kT0 + seconds(6)).allowed);
}

TEST(RateLimiterTest, OddSettingsAreRaisedToSaneOnes) {
  RateLimiter limiter(0.0, 0.0, 0);
  EXPECT_TRUE(limiter.Acquire("k", kT0).allowed);  // burst raised to 1
  const auto refused = limiter.Acquire("k", kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_GT(refused.retry_after, seconds(3600));
  EXPECT_TRUE(limiter.Acquire("other", kT0).allowed);
  EXPECT_EQ(limiter.TrackedKeys(), 1u);  // max_keys raised to 1
}

TEST(RateLimiterTest, EvictsFullBucketsBeforeTheLeastRecentlyUsed) {
  // 3 keys (one shard), 1 token/s, burst 2.
  RateLimiter limiter(1.0, 2.0, 3);
  ASSERT_TRUE(limiter.Acquire("x", kT0).allowed);  // x: 0 tokens, full at 2.0s
  ASSERT_TRUE(limiter.Acquire("x", kT0).allowed);
  const auto half = kT0 + milliseconds(500);
  ASSERT_TRUE(limiter.Acquire("y", half).allowed);  // y: 1 token, full at 1.5s
  ASSERT_TRUE(limiter.Acquire("z", half).allowed);  // z: 0 tokens, full at 2.5s
  ASSERT_TRUE(limiter.Acquire("z", half).allowed);
  EXPECT_EQ(limiter.TrackedKeys(), 3u);

  // At 1.6s only y is full; x is the least recently used but still owes tokens.
  const auto now = kT0 + milliseconds(1600);
  ASSERT_TRUE(limiter.Acquire("w", now).allowed);
  EXPECT_EQ(limiter.TrackedKeys(), 3u);
  EXPECT_EQ(limiter.Evicted(), 1u);
  const auto x = limiter.Acquire("x", now);  // kept: 1.6 tokens - 1
  EXPECT_TRUE(x.allowed);
  EXPECT_NEAR(x.remaining, 0.6, 1e-9);

  // Nothing is full now (x 0.6, w 1, z 1.1): the least recently used, z, goes.
  ASSERT_TRUE(limiter.Acquire("y", now).allowed);
  EXPECT_EQ(limiter.Evicted(), 2u);
  EXPECT_EQ(limiter.TrackedKeys(), 3u);
  const auto z = limiter.Acquire("z", now);  // a fresh bucket: 2 - 1
  EXPECT_TRUE(z.allowed);
  EXPECT_NEAR(z.remaining, 1.0, 1e-9);
}

TEST(RateLimiterTest, RecentUseProtectsFromLruEviction) {
  RateLimiter limiter(1.0, 10.0, 2);
  ASSERT_TRUE(limiter.Acquire("a", kT0).allowed);
  ASSERT_TRUE(limiter.Acquire("b", kT0).allowed);
  ASSERT_TRUE(limiter.Acquire("a", kT0).allowed);  // a: 8 tokens, most recent
  ASSERT_TRUE(limiter.Acquire("c", kT0).allowed);  // evicts b
  EXPECT_NEAR(limiter.Acquire("a", kT0).remaining, 7.0, 1e-9);
}

TEST(RateLimiterTest, NeverTracksMoreThanMaxKeys) {
  RateLimiter limiter(20.0, 40.0, 1000);
  for (int i = 0; i < 20000; ++i) {
    const auto now = kT0 + milliseconds(i % 7);
    EXPECT_TRUE(limiter.Acquire("10.0." + std::to_string(i), now).allowed);
    if (i % 1000 == 0) {
      EXPECT_LE(limiter.TrackedKeys(), 1000u);
    }
  }
  EXPECT_EQ(limiter.TrackedKeys(), 1000u);  // every shard is full
  EXPECT_EQ(limiter.Evicted(), 19000u);
}

TEST(RateLimiterTest, ConcurrentAcquiresOnOneKeyLoseNoTokens) {
  RateLimiter limiter(1.0, 3000.0, 1000);
  constexpr int kThreads = 8;
  constexpr int kAttempts = 1000;
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kAttempts; ++i) {
        if (limiter.Acquire("hot", kT0).allowed) ++allowed;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 3000);
  EXPECT_EQ(limiter.TrackedKeys(), 1u);
}

TEST(RateLimiterTest, ConcurrentAcquiresWithEvictionStayBounded) {
  RateLimiter limiter(5.0, 2.0, 300);  // 4 shards of 75
  constexpr int kThreads = 8;
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        const auto now = kT0 + milliseconds(i);
        const std::string key = "user-" + std::to_string((i * 7 + t) % 2000);
        if (limiter.Acquire(key, now).allowed) ++allowed;
        if (i % 500 == 0) {
          EXPECT_LE(limiter.TrackedKeys(), 300u);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(limiter.TrackedKeys(), 300u);
  EXPECT_GT(allowed.load(), 0);
}

}  // namespace
}  // namespace nilecare::router
