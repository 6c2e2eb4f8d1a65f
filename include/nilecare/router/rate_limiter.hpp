#pragma once
// Token buckets keyed by string, with bounded memory. Configured by
//   rate_limit: { per_user: 50, per_user_burst: 100, per_ip: 20, per_ip_burst: 40,
//                 max_tracked_keys: 100000 }
// as two limiters: one keyed by user id (authenticated callers), one by client address.
//
// On the hot path of every request, so the keys are spread over independent shards (one
// mutex each) instead of one lock. Memory is bounded because the keys are chosen by clients
// (a botnet brings a new address per request): past max_keys, buckets that have refilled to
// full go first (dropping them loses nothing: a new bucket starts full), then the least
// recently used ones (which lets that client burst again, the price of a fixed bound).
//
// Time is passed in (`now`) so tests are deterministic.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace nilecare::router {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // rate_per_second > 0 and burst >= 1 (smaller values are raised to a tiny rate and to 1:
  // a bucket that can never hold one token would refuse everything). max_keys 0 counts as
  // 1. Limiters of fewer than 128 keys use a single shard.
  RateLimiter(double rate_per_second, double burst, std::size_t max_keys);

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  struct Decision {
    bool allowed{true};
    // When refused: time until one token is available, rounded up, >= 1ms (Retry-After).
    std::chrono::milliseconds retry_after{0};
    double remaining{0};  // tokens left after this request (X-RateLimit-Remaining, floored)
  };
  Decision Acquire(std::string_view key, Clock::time_point now = Clock::now());

  std::size_t TrackedKeys() const;  // never more than max_keys
  std::uint64_t Evicted() const;    // buckets dropped to stay within max_keys

 private:
  struct Bucket {
    std::string key;
    double tokens{0};
    Clock::time_point last{};
  };
  using Lru = std::list<Bucket>;  // front = most recently used

  // Cache-line aligned so neighbouring shards' mutexes do not share a line.
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    Lru lru;
    std::unordered_map<std::string_view, Lru::iterator> index;  // views into lru's keys
    std::size_t capacity{1};
    std::size_t inserts_since_sweep{0};
    std::uint64_t evicted{0};
  };

  double Refilled(const Bucket& bucket, Clock::time_point now) const;
  void MakeRoomLocked(Shard& shard, Clock::time_point now);

  double rate_;
  double burst_;
  std::size_t shard_count_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace nilecare::router
