#include "nilecare/router/circuit_breaker.hpp"

#include <algorithm>

namespace nilecare::router {
namespace {

using std::chrono::milliseconds;

// Rounded up so a client that waits exactly retry_after is not rejected again, and never 0
// (a zero Retry-After invites an immediate retry storm).
milliseconds RetryAfter(CircuitBreaker::Clock::duration left) {
  return std::max(milliseconds(1), std::chrono::ceil<milliseconds>(left));
}

CircuitBreaker::Clock::duration BucketWidth(const config::CircuitBreakerSettings& settings) {
  const auto window = std::chrono::duration_cast<CircuitBreaker::Clock::duration>(settings.window);
  // A zero or negative window would divide by zero below; one tick keeps the arithmetic sane.
  return std::max(window / 10, CircuitBreaker::Clock::duration(1));
}

}  // namespace

std::string_view ToString(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(std::string name, const config::CircuitBreakerSettings& settings,
                               StateListener listener)
    : name_(std::move(name)),
      settings_(settings),
      bucket_width_(BucketWidth(settings)),
      listener_(std::move(listener)) {}

const std::string& CircuitBreaker::Name() const { return name_; }

bool CircuitBreaker::NextTimedStep(Phase& phase, Clock::time_point now) const {
  if (phase.state == BreakerState::kOpen && now - phase.opened_at >= settings_.reset_timeout) {
    phase.state = BreakerState::kHalfOpen;
    phase.probe_out = false;
    return true;
  }
  // A probe running longer than `timeout` will be reported as a failure anyway; deciding
  // now means a lost probe (a caller that never reports) cannot wedge the breaker.
  if (phase.state == BreakerState::kHalfOpen && phase.probe_out &&
      now - phase.probe_started > settings_.timeout) {
    phase.state = BreakerState::kOpen;
    phase.opened_at = phase.probe_started + settings_.timeout;
    phase.probe_out = false;
    return true;
  }
  return false;
}

void CircuitBreaker::AdvanceLocked(Clock::time_point now) {
  for (;;) {
    Phase next = phase_;
    if (!NextTimedStep(next, now)) return;
    TransitionLocked(next.state, next.opened_at);
  }
}

void CircuitBreaker::TransitionLocked(BreakerState to, Clock::time_point at) {
  if (listener_) pending_.emplace_back(phase_.state, to);
  phase_.state = to;
  phase_.probe_out = false;
  ++generation_;
  switch (to) {
    case BreakerState::kOpen:
      phase_.opened_at = at;
      ++times_opened_;
      break;
    case BreakerState::kClosed:
      // The failures that opened the breaker are history once the probe succeeded; keeping
      // them would re-open it on the next single failure.
      buckets_.fill(Bucket{});
      break;
    case BreakerState::kHalfOpen:
      break;
  }
}

std::int64_t CircuitBreaker::BucketId(Clock::time_point now) const {
  const auto ticks = now.time_since_epoch().count();
  const auto width = bucket_width_.count();
  auto id = ticks / width;
  if (ticks % width < 0) --id;
  return id;
}

void CircuitBreaker::CountLocked(bool success, Clock::time_point now) {
  const std::int64_t id = BucketId(now);
  Bucket& bucket = buckets_[static_cast<std::size_t>(((id % kBuckets) + kBuckets) % kBuckets)];
  // Threads read the clock before taking the lock, so `now` can lag a little behind what
  // another thread already recorded; an outcome older than the whole window is dropped.
  if (bucket.id > id) return;
  if (bucket.id < id) bucket = Bucket{id, 0, 0};
  if (success) {
    ++bucket.successes;
  } else {
    ++bucket.failures;
  }
}

std::pair<std::uint64_t, std::uint64_t> CircuitBreaker::WindowTotalsLocked(
    Clock::time_point now) const {
  const std::int64_t oldest = BucketId(now) - kBuckets + 1;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  for (const Bucket& bucket : buckets_) {
    // Buckets newer than `now` count too: they come from threads that read the clock later.
    if (bucket.id >= oldest) {
      successes += bucket.successes;
      failures += bucket.failures;
    }
  }
  return {successes, failures};
}

bool CircuitBreaker::ClaimDeliveryLocked() {
  if (pending_.empty() || delivering_) return false;
  delivering_ = true;
  return true;
}

void CircuitBreaker::Deliver() {
  std::unique_lock lock(mutex_);
  while (!pending_.empty()) {
    const auto [from, to] = pending_.front();
    pending_.pop_front();
    lock.unlock();
    try {
      listener_(from, to);
    } catch (...) {
      // A broken listener loses this notification; the breaker itself stays consistent.
    }
    lock.lock();
  }
  delivering_ = false;
}

CircuitBreaker::Permit CircuitBreaker::TryAcquire(Clock::time_point now) {
  Permit permit;
  bool deliver = false;
  {
    std::lock_guard lock(mutex_);
    AdvanceLocked(now);
    permit.generation = generation_;
    switch (phase_.state) {
      case BreakerState::kClosed:
        permit.allowed = true;
        break;
      case BreakerState::kOpen:
        ++short_circuited_;
        permit.retry_after = RetryAfter(phase_.opened_at + settings_.reset_timeout - now);
        break;
      case BreakerState::kHalfOpen:
        if (!phase_.probe_out) {
          phase_.probe_out = true;
          phase_.probe_started = now;
          permit.allowed = true;
          permit.probe = true;
        } else {
          ++short_circuited_;
          // The probe's outcome is known at the latest when it exceeds `timeout`.
          permit.retry_after = RetryAfter(phase_.probe_started + settings_.timeout - now);
        }
        break;
    }
    deliver = ClaimDeliveryLocked();
  }
  if (deliver) Deliver();
  return permit;
}

bool CircuitBreaker::RecordOutcome(const Permit& permit, bool success, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  AdvanceLocked(now);
  if (permit.allowed && permit.generation == generation_) {
    if (phase_.state == BreakerState::kClosed) {
      CountLocked(success, now);
      if (!success) {
        const auto [successes, failures] = WindowTotalsLocked(now);
        const std::uint64_t total = successes + failures;
        const auto volume = static_cast<std::uint64_t>(std::max(settings_.volume_threshold, 0));
        const auto percent =
            static_cast<std::uint64_t>(std::max(settings_.error_threshold_percent, 0));
        if (total >= volume && failures * 100 >= percent * total) {
          TransitionLocked(BreakerState::kOpen, now);
        }
      }
    } else if (phase_.state == BreakerState::kHalfOpen && permit.probe && phase_.probe_out) {
      TransitionLocked(success ? BreakerState::kClosed : BreakerState::kOpen, now);
    }
  }
  return ClaimDeliveryLocked();
}

void CircuitBreaker::RecordSuccess(const Permit& permit, std::chrono::milliseconds latency,
                                   Clock::time_point now) {
  const bool success = latency <= settings_.timeout;
  if (RecordOutcome(permit, success, now)) Deliver();
}

void CircuitBreaker::RecordFailure(const Permit& permit, Clock::time_point now) {
  if (RecordOutcome(permit, false, now)) Deliver();
}

void CircuitBreaker::RecordAbandoned(const Permit& permit) {
  std::lock_guard lock(mutex_);
  if (permit.allowed && permit.probe && permit.generation == generation_ &&
      phase_.state == BreakerState::kHalfOpen) {
    phase_.probe_out = false;
    // The next probe gets a new generation, so a stray report for this one cannot decide.
    ++generation_;
  }
}

BreakerState CircuitBreaker::State(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  Phase phase = phase_;
  while (NextTimedStep(phase, now)) {
  }
  return phase.state;
}

CircuitBreaker::Snapshot CircuitBreaker::Stats(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  Phase phase = phase_;
  while (NextTimedStep(phase, now)) {
  }
  const auto [successes, failures] = WindowTotalsLocked(now);
  return Snapshot{phase.state, successes, failures, times_opened_, short_circuited_};
}

}  // namespace nilecare::router
