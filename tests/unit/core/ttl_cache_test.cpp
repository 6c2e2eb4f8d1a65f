#include "nilecare/core/ttl_cache.hpp"

#include <gtest/gtest.h>

namespace {

using nilecare::core::TtlCache;
using Clock = TtlCache<int>::Clock;
using namespace std::chrono_literals;

TEST(TtlCacheTest, ReturnsWhatWasPutUntilItExpires) {
  TtlCache<int> cache(10);
  const auto now = Clock::now();
  cache.Put("a", 1, now + 10s);
  EXPECT_EQ(cache.Get("a", now), 1);
  EXPECT_EQ(cache.Get("a", now + 9s), 1);
  EXPECT_EQ(cache.Get("a", now + 10s), std::nullopt);
  EXPECT_EQ(cache.Size(), 0u);  // an expired entry is dropped when found
  EXPECT_EQ(cache.Get("missing", now), std::nullopt);
}

TEST(TtlCacheTest, EvictsTheLeastRecentlyUsedAtCapacity) {
  TtlCache<int> cache(2);
  const auto later = Clock::now() + 1h;
  cache.Put("a", 1, later);
  cache.Put("b", 2, later);
  EXPECT_EQ(cache.Get("a"), 1);  // a is now the most recent
  cache.Put("c", 3, later);
  EXPECT_EQ(cache.Get("b"), std::nullopt);
  EXPECT_EQ(cache.Get("a"), 1);
  EXPECT_EQ(cache.Get("c"), 3);
  EXPECT_EQ(cache.Size(), 2u);
}

TEST(TtlCacheTest, PutReplacesAndZeroCapacityStoresNothing) {
  TtlCache<int> cache(2);
  const auto later = Clock::now() + 1h;
  cache.Put("a", 1, later);
  cache.Put("a", 5, later);
  EXPECT_EQ(cache.Get("a"), 5);
  EXPECT_EQ(cache.Size(), 1u);
  TtlCache<int> none(0);
  none.Put("a", 1, later);
  EXPECT_EQ(none.Get("a"), std::nullopt);
}

}  // namespace
