#include "nilecare/router/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace nilecare::router {
namespace {

constexpr std::size_t kMaxShards = 16;
// Below this many keys per shard, sharding buys nothing and makes the LRU coarse.
constexpr std::size_t kMinKeysPerShard = 64;
constexpr double kMinRate = 1e-9;
// Token counts come from floating-point time arithmetic: 0.1s at 10/s must give a whole
// token, not 0.9999999999999999 of one.
constexpr double kEpsilon = 1e-9;

std::chrono::milliseconds RetryAfter(double seconds) {
  const double millis = std::ceil(seconds * 1000.0 - 1e-6);
  return std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(millis)));
}

}  // namespace

RateLimiter::RateLimiter(double rate_per_second, double burst, std::size_t max_keys)
    : rate_(rate_per_second > kMinRate ? rate_per_second : kMinRate),
      burst_(burst > 1.0 ? burst : 1.0) {
  max_keys = std::max<std::size_t>(max_keys, 1);
  shard_count_ = std::clamp<std::size_t>(max_keys / kMinKeysPerShard, 1, kMaxShards);
  shards_ = std::make_unique<Shard[]>(shard_count_);
  // Shares add up to exactly max_keys, so TrackedKeys() never exceeds it.
  for (std::size_t i = 0; i < shard_count_; ++i) {
    shards_[i].capacity = max_keys / shard_count_ + (i < max_keys % shard_count_ ? 1 : 0);
  }
}

double RateLimiter::Refilled(const Bucket& bucket, Clock::time_point now) const {
  // Threads read the clock before taking the shard lock, so `now` can be slightly older than
  // `last`: no refill then, rather than a negative one.
  if (now <= bucket.last) return bucket.tokens;
  const double elapsed = std::chrono::duration<double>(now - bucket.last).count();
  return std::min(burst_, bucket.tokens + elapsed * rate_);
}

void RateLimiter::MakeRoomLocked(Shard& shard, Clock::time_point now) {
  if (shard.index.size() < shard.capacity) return;
  // A sweep costs the whole shard, so it runs at most once per capacity/16 inserts: under
  // a flood of new keys the amortised cost per request stays constant.
  if (shard.inserts_since_sweep >= std::max<std::size_t>(1, shard.capacity / 16)) {
    shard.inserts_since_sweep = 0;
    for (auto it = shard.lru.begin(); it != shard.lru.end();) {
      if (Refilled(*it, now) + kEpsilon >= burst_) {
        shard.index.erase(it->key);
        it = shard.lru.erase(it);
        ++shard.evicted;
      } else {
        ++it;
      }
    }
  }
  while (shard.index.size() >= shard.capacity) {
    shard.index.erase(shard.lru.back().key);
    shard.lru.pop_back();
    ++shard.evicted;
  }
}

RateLimiter::Decision RateLimiter::Acquire(std::string_view key, Clock::time_point now) {
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % shard_count_];
  std::lock_guard lock(shard.mutex);
  Bucket* bucket = nullptr;
  if (auto found = shard.index.find(key); found != shard.index.end()) {
    shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
    bucket = &*found->second;
    bucket->tokens = Refilled(*bucket, now);
    bucket->last = std::max(bucket->last, now);
  } else {
    MakeRoomLocked(shard, now);
    shard.lru.push_front(Bucket{std::string(key), burst_, now});
    bucket = &shard.lru.front();
    shard.index.emplace(bucket->key, shard.lru.begin());
    ++shard.inserts_since_sweep;
  }

  Decision decision;
  if (bucket->tokens + kEpsilon >= 1.0) {
    bucket->tokens = std::max(0.0, bucket->tokens - 1.0);
    decision.allowed = true;
  } else {
    decision.allowed = false;
    decision.retry_after = RetryAfter((1.0 - bucket->tokens) / rate_);
  }
  decision.remaining = bucket->tokens;
  return decision;
}

std::size_t RateLimiter::TrackedKeys() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].index.size();
  }
  return total;
}

std::uint64_t RateLimiter::Evicted() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].evicted;
  }
  return total;
}

}  // namespace nilecare::router
