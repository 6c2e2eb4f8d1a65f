#pragma once
// Circuit breaker, one per upstream, with opossum's semantics (spec "Circuit Breaker
// Pattern"). Configured by
//   circuit_breaker: { timeout: 5s, error_threshold_percent: 50, volume_threshold: 10,
//                      window: 10s, reset_timeout: 30s }
// globally or per upstream (upstreams.<name>.circuit_breaker).
//
// What counts as a failure is the caller's decision, made like this: network errors, the
// call's deadline, 5xx and 429 are failures; 4xx other than 429 are successes (the upstream
// is healthy, the request was wrong); a success slower than `timeout` is turned into a
// failure here (opossum's timeout).
//
// Every allowed permit must be reported exactly once: RecordSuccess, RecordFailure, or
// RecordAbandoned when the call never went out. A report for a permit issued before the
// latest state change (or for an abandoned probe) is ignored, so slow calls from before an
// outage cannot close a half-open breaker or pollute the fresh window of a closed one.
//
// Time is passed in (`now`) so tests are deterministic; there are no timers. The
// open -> half-open change happens at the first TryAcquire after reset_timeout (State()
// already reports half-open then, as opossum's timer would).

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "nilecare/config/settings.hpp"

namespace nilecare::router {

enum class BreakerState { kClosed, kOpen, kHalfOpen };

// "closed", "open", "half_open": stable, used as log fields and metric labels.
std::string_view ToString(BreakerState state);

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  // Called outside the breaker's lock, in transition order, one call at a time (a thread
  // that changes the state while another is delivering leaves its transition to that
  // one). The listener may call back into the breaker. Exceptions it throws are swallowed:
  // a broken log sink must not break the request path.
  using StateListener = std::function<void(BreakerState from, BreakerState to)>;

  CircuitBreaker(std::string name, const config::CircuitBreakerSettings& settings,
                 StateListener listener = {});

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  struct Permit {
    bool allowed{false};
    bool probe{false};  // the single half-open trial call
    // When rejected: how long until asking again can succeed (>= 1ms), for Retry-After.
    std::chrono::milliseconds retry_after{0};
    // The breaker generation the permit belongs to; reports from older ones are ignored.
    std::uint64_t generation{0};
  };

  // Open: rejected, retry_after = time left of reset_timeout.
  // Half-open with the probe out: rejected, retry_after = time left until the probe would
  // exceed `timeout` (by then it has closed or re-opened the breaker, see below).
  Permit TryAcquire(Clock::time_point now = Clock::now());

  // latency > settings.timeout counts as a failure (opossum's timeout).
  void RecordSuccess(const Permit& permit, std::chrono::milliseconds latency,
                     Clock::time_point now = Clock::now());
  void RecordFailure(const Permit& permit, Clock::time_point now = Clock::now());
  // The permit was not used (request cancelled before the call): frees the half-open probe
  // slot; a closed-state permit is simply not counted.
  void RecordAbandoned(const Permit& permit);

  BreakerState State(Clock::time_point now = Clock::now()) const;
  const std::string& Name() const;

  struct Snapshot {
    BreakerState state;
    std::uint64_t window_successes;
    std::uint64_t window_failures;
    std::uint64_t times_opened;
    std::uint64_t short_circuited;  // calls rejected while open or half-open
  };
  Snapshot Stats(Clock::time_point now = Clock::now()) const;

 private:
  // Like opossum's rollingCountBuckets: the window moves one bucket at a time, so an
  // outcome leaves it between 0.9 and 1.0 window after it happened.
  static constexpr std::int64_t kBuckets = 10;

  struct Bucket {
    std::int64_t id{std::numeric_limits<std::int64_t>::min()};  // absolute number; min = unused
    std::uint64_t successes{0};
    std::uint64_t failures{0};
  };

  // The part of the state that changes by time alone (reset_timeout and probe expiry).
  struct Phase {
    BreakerState state{BreakerState::kClosed};
    Clock::time_point opened_at{};
    bool probe_out{false};
    Clock::time_point probe_started{};
  };

  // One time-driven step from `phase` at `now`, if any is due. `opened_at` of a re-open
  // caused by an expired probe is the moment the probe became a certain failure.
  bool NextTimedStep(Phase& phase, Clock::time_point now) const;
  void AdvanceLocked(Clock::time_point now);
  void TransitionLocked(BreakerState to, Clock::time_point at);
  void CountLocked(bool success, Clock::time_point now);
  std::pair<std::uint64_t, std::uint64_t> WindowTotalsLocked(Clock::time_point now) const;
  std::int64_t BucketId(Clock::time_point now) const;
  bool RecordOutcome(const Permit& permit, bool success, Clock::time_point now);
  // Returns whether this thread took over delivery of pending transitions.
  bool ClaimDeliveryLocked();
  void Deliver();

  const std::string name_;
  const config::CircuitBreakerSettings settings_;
  const Clock::duration bucket_width_;
  const StateListener listener_;

  mutable std::mutex mutex_;
  Phase phase_{};
  std::uint64_t generation_{1};
  std::array<Bucket, kBuckets> buckets_{};
  std::uint64_t times_opened_{0};
  std::uint64_t short_circuited_{0};
  std::deque<std::pair<BreakerState, BreakerState>> pending_;
  bool delivering_{false};
};

}  // namespace nilecare::router
