#include "nilecare/router/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace nilecare::router {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = CircuitBreaker::Clock;
using Transition = std::pair<BreakerState, BreakerState>;

// Aligned to whole seconds so the 1s buckets of a 10s window start exactly at kT0.
const Clock::time_point kT0 = Clock::time_point(seconds(1000));

config::CircuitBreakerSettings Settings() {
  config::CircuitBreakerSettings settings;  // the spec's defaults
  settings.timeout = seconds(5);
  settings.error_threshold_percent = 50;
  settings.volume_threshold = 10;
  settings.window = seconds(10);
  settings.reset_timeout = seconds(30);
  return settings;
}

struct Recorder {
  std::mutex mutex;
  std::vector<Transition> transitions;
  CircuitBreaker::StateListener Listener() {
    return [this](BreakerState from, BreakerState to) {
      std::lock_guard lock(mutex);
      transitions.emplace_back(from, to);
    };
  }
};

void Succeed(CircuitBreaker& breaker, Clock::time_point now, int count = 1) {
  for (int i = 0; i < count; ++i) {
    const auto permit = breaker.TryAcquire(now);
    ASSERT_TRUE(permit.allowed);
    breaker.RecordSuccess(permit, milliseconds(10), now);
  }
}

void Fail(CircuitBreaker& breaker, Clock::time_point now, int count = 1) {
  for (int i = 0; i < count; ++i) {
    const auto permit = breaker.TryAcquire(now);
    ASSERT_TRUE(permit.allowed);
    breaker.RecordFailure(permit, now);
  }
}

// Opens the breaker at exactly `at` with the minimum volume (10 failures).
void OpenAt(CircuitBreaker& breaker, Clock::time_point at) {
  Fail(breaker, at, 10);
  ASSERT_EQ(breaker.State(at), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, NamesStates) {
  EXPECT_EQ(ToString(BreakerState::kClosed), "closed");
  EXPECT_EQ(ToString(BreakerState::kOpen), "open");
  EXPECT_EQ(ToString(BreakerState::kHalfOpen), "half_open");
}

TEST(CircuitBreakerTest, StartsClosedAndKeepsItsName) {
  CircuitBreaker breaker("billing", Settings());
  EXPECT_EQ(breaker.Name(), "billing");
  EXPECT_EQ(breaker.State(kT0), BreakerState::kClosed);
  const auto permit = breaker.TryAcquire(kT0);
  EXPECT_TRUE(permit.allowed);
  EXPECT_FALSE(permit.probe);
  EXPECT_EQ(permit.retry_after, milliseconds(0));
}

TEST(CircuitBreakerTest, StaysClosedBelowTheVolumeThreshold) {
  CircuitBreaker breaker("u", Settings());
  Fail(breaker, kT0, 9);  // 100% failures, but only 9 calls
  EXPECT_EQ(breaker.State(kT0), BreakerState::kClosed);
  const auto stats = breaker.Stats(kT0);
  EXPECT_EQ(stats.window_failures, 9u);
  EXPECT_EQ(stats.times_opened, 0u);
}

TEST(CircuitBreakerTest, OpensAtExactlyTheErrorThreshold) {
  Recorder recorder;
  CircuitBreaker breaker("u", Settings(), recorder.Listener());
  Succeed(breaker, kT0, 5);
  Fail(breaker, kT0, 4);  // 9 calls: below volume
  EXPECT_EQ(breaker.State(kT0), BreakerState::kClosed);
  Fail(breaker, kT0, 1);  // 10 calls, 5 failures = 50%
  EXPECT_EQ(breaker.State(kT0), BreakerState::kOpen);
  EXPECT_EQ(breaker.Stats(kT0).times_opened, 1u);
  EXPECT_EQ(recorder.transitions,
            (std::vector<Transition>{{BreakerState::kClosed, BreakerState::kOpen}}));
}

TEST(CircuitBreakerTest, StaysClosedJustBelowTheErrorThreshold) {
  CircuitBreaker breaker("u", Settings());
  Succeed(breaker, kT0, 11);
  Fail(breaker, kT0, 10);  // 10 of 21 = 47.6%
  EXPECT_EQ(breaker.State(kT0), BreakerState::kClosed);
  Fail(breaker, kT0, 1);  // 11 of 22 = 50%
  EXPECT_EQ(breaker.State(kT0), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, SuccessesNeverOpenIt) {
  CircuitBreaker breaker("u", Settings());
  Fail(breaker, kT0, 4);
  Succeed(breaker, kT0, 100);  // only failures evaluate the threshold, as in opossum
  EXPECT_EQ(breaker.State(kT0), BreakerState::kClosed);
}

TEST(CircuitBreakerTest, OpenRejectsWithTheTimeLeftOfResetTimeout) {
  CircuitBreaker breaker("u", Settings());
  OpenAt(breaker, kT0);
  auto permit = breaker.TryAcquire(kT0);
  EXPECT_FALSE(permit.allowed);
  EXPECT_EQ(permit.retry_after, milliseconds(30000));
  permit = breaker.TryAcquire(kT0 + seconds(10));
  EXPECT_FALSE(permit.allowed);
  EXPECT_EQ(permit.retry_after, milliseconds(20000));
  // Rounded up, never zero.
  permit = breaker.TryAcquire(kT0 + milliseconds(29998) + std::chrono::microseconds(500));
  EXPECT_EQ(permit.retry_after, milliseconds(2));
  permit = breaker.TryAcquire(kT0 + milliseconds(29999) + std::chrono::microseconds(999));
  EXPECT_EQ(permit.retry_after, milliseconds(1));
  EXPECT_EQ(breaker.Stats(kT0 + seconds(1)).short_circuited, 4u);
}

TEST(CircuitBreakerTest, LetsOneProbeThroughAfterResetTimeout) {
  Recorder recorder;
  CircuitBreaker breaker("u", Settings(), recorder.Listener());
  OpenAt(breaker, kT0);
  const auto reset = kT0 + seconds(30);
  EXPECT_EQ(breaker.State(reset - milliseconds(1)), BreakerState::kOpen);
  // Reported as half-open once reset_timeout elapsed, before anyone asked.
  EXPECT_EQ(breaker.State(reset), BreakerState::kHalfOpen);
  EXPECT_EQ(recorder.transitions.size(), 1u);

  const auto probe = breaker.TryAcquire(reset);
  EXPECT_TRUE(probe.allowed);
  EXPECT_TRUE(probe.probe);
  EXPECT_EQ(recorder.transitions,
            (std::vector<Transition>{{BreakerState::kClosed, BreakerState::kOpen},
                                     {BreakerState::kOpen, BreakerState::kHalfOpen}}));

  // While the probe is out: rejected until the probe would exceed `timeout` (5s).
  auto other = breaker.TryAcquire(reset);
  EXPECT_FALSE(other.allowed);
  EXPECT_FALSE(other.probe);
  EXPECT_EQ(other.retry_after, milliseconds(5000));
  other = breaker.TryAcquire(reset + milliseconds(1200));
  EXPECT_FALSE(other.allowed);
  EXPECT_EQ(other.retry_after, milliseconds(3800));
  EXPECT_EQ(breaker.State(reset + milliseconds(1200)), BreakerState::kHalfOpen);
}

TEST(CircuitBreakerTest, ProbeSuccessClosesWithAFreshWindow) {
  Recorder recorder;
  CircuitBreaker breaker("u", Settings(), recorder.Listener());
  Succeed(breaker, kT0, 5);
  Fail(breaker, kT0, 5);
  ASSERT_EQ(breaker.State(kT0), BreakerState::kOpen);
  const auto reset = kT0 + seconds(30);
  const auto probe = breaker.TryAcquire(reset);
  ASSERT_TRUE(probe.probe);
  breaker.RecordSuccess(probe, milliseconds(40), reset + milliseconds(40));
  EXPECT_EQ(breaker.State(reset + milliseconds(40)), BreakerState::kClosed);
  EXPECT_EQ(recorder.transitions,
            (std::vector<Transition>{{BreakerState::kClosed, BreakerState::kOpen},
                                     {BreakerState::kOpen, BreakerState::kHalfOpen},
                                     {BreakerState::kHalfOpen, BreakerState::kClosed}}));
  const auto stats = breaker.Stats(reset + milliseconds(40));
  EXPECT_EQ(stats.window_successes, 0u);
  EXPECT_EQ(stats.window_failures, 0u);
  // The old failures are gone: it takes a full volume again to re-open.
  Fail(breaker, reset + seconds(1), 9);
  EXPECT_EQ(breaker.State(reset + seconds(1)), BreakerState::kClosed);
  Fail(breaker, reset + seconds(1), 1);
  EXPECT_EQ(breaker.State(reset + seconds(1)), BreakerState::kOpen);
  EXPECT_EQ(breaker.Stats(reset + seconds(1)).times_opened, 2u);
}

TEST(CircuitBreakerTest, TheWindowIsFreshEvenWhenResetTimeoutIsShorterThanTheWindow) {
  auto settings = Settings();
  settings.reset_timeout = seconds(2);  // the failures that opened it are still in the window
  CircuitBreaker breaker("u", settings);
  Succeed(breaker, kT0, 5);
  Fail(breaker, kT0, 5);
  ASSERT_EQ(breaker.State(kT0), BreakerState::kOpen);
  const auto probe = breaker.TryAcquire(kT0 + seconds(2));
  ASSERT_TRUE(probe.probe);
  breaker.RecordSuccess(probe, milliseconds(1), kT0 + seconds(2));
  const auto stats = breaker.Stats(kT0 + seconds(2));
  EXPECT_EQ(stats.state, BreakerState::kClosed);
  EXPECT_EQ(stats.window_successes + stats.window_failures, 0u);
  Fail(breaker, kT0 + seconds(2), 9);
  EXPECT_EQ(breaker.State(kT0 + seconds(2)), BreakerState::kClosed);
}

TEST(CircuitBreakerTest, ProbeFailureReopensForAFullResetTimeout) {
  Recorder recorder;
  CircuitBreaker breaker("u", Settings(), recorder.Listener());
  OpenAt(breaker, kT0);
  const auto reset = kT0 + seconds(30);
  const auto probe = breaker.TryAcquire(reset);
  ASSERT_TRUE(probe.probe);
  const auto failed_at = reset + milliseconds(700);
  breaker.RecordFailure(probe, failed_at);
  EXPECT_EQ(breaker.State(failed_at), BreakerState::kOpen);
  const auto permit = breaker.TryAcquire(failed_at);
  EXPECT_FALSE(permit.allowed);
  EXPECT_EQ(permit.retry_after, milliseconds(30000));
  EXPECT_EQ(breaker.Stats(failed_at).times_opened, 2u);
  EXPECT_EQ(breaker.State(failed_at + seconds(30) - milliseconds(1)), BreakerState::kOpen);
  EXPECT_TRUE(breaker.TryAcquire(failed_at + seconds(30)).probe);
  EXPECT_EQ(recorder.transitions,
            (std::vector<Transition>{{BreakerState::kClosed, BreakerState::kOpen},
                                     {BreakerState::kOpen, BreakerState::kHalfOpen},
                                     {BreakerState::kHalfOpen, BreakerState::kOpen},
                                     {BreakerState::kOpen, BreakerState::kHalfOpen}}));
}

TEST(CircuitBreakerTest, ASlowSuccessIsAFailure) {
  CircuitBreaker breaker("u", Settings());
  for (int i = 0; i < 10; ++i) {
    const auto permit = breaker.TryAcquire(kT0);
    breaker.RecordSuccess(permit, milliseconds(5000), kT0);  // exactly timeout: fine
  }
  EXPECT_EQ(breaker.Stats(kT0).window_successes, 10u);
  EXPECT_EQ(breaker.State(kT0), BreakerState::kClosed);
  for (int i = 0; i < 9; ++i) {
    const auto permit = breaker.TryAcquire(kT0);
    breaker.RecordSuccess(permit, milliseconds(5001), kT0);
  }
  EXPECT_EQ(breaker.Stats(kT0).window_failures, 9u);
  EXPECT_EQ(breaker.State(kT0), BreakerState::kClosed);
  const auto permit = breaker.TryAcquire(kT0);
  breaker.RecordSuccess(permit, milliseconds(5001), kT0);  // 10 of 20
  EXPECT_EQ(breaker.State(kT0), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, SlowSuccessesOpenIt) {
  CircuitBreaker breaker("u", Settings());
  for (int i = 0; i < 10; ++i) {
    const auto permit = breaker.TryAcquire(kT0);
    breaker.RecordSuccess(permit, milliseconds(5001), kT0);
  }
  EXPECT_EQ(breaker.State(kT0), BreakerState::kOpen);
  EXPECT_EQ(breaker.Stats(kT0).window_failures, 10u);
}

TEST(CircuitBreakerTest, ASlowProbeReopens) {
  CircuitBreaker breaker("u", Settings());
  OpenAt(breaker, kT0);
  const auto reset = kT0 + seconds(30);
  const auto probe = breaker.TryAcquire(reset);
  breaker.RecordSuccess(probe, milliseconds(5001), reset + milliseconds(5000));
  EXPECT_EQ(breaker.State(reset + milliseconds(5000)), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, AnAbandonedProbeFreesTheSlot) {
  Recorder recorder;
  CircuitBreaker breaker("u", Settings(), recorder.Listener());
  OpenAt(breaker, kT0);
  const auto reset = kT0 + seconds(30);
  const auto probe = breaker.TryAcquire(reset);
  ASSERT_TRUE(probe.probe);
  EXPECT_FALSE(breaker.TryAcquire(reset).allowed);
  breaker.RecordAbandoned(probe);
  EXPECT_EQ(breaker.State(reset), BreakerState::kHalfOpen);
  const auto next = breaker.TryAcquire(reset + milliseconds(1));
  EXPECT_TRUE(next.allowed);
  EXPECT_TRUE(next.probe);
  // Abandoning is not a transition.
  EXPECT_EQ(recorder.transitions.size(), 2u);
  // A second report for the abandoned permit changes nothing.
  breaker.RecordSuccess(probe, milliseconds(1), reset + milliseconds(2));
  EXPECT_EQ(breaker.State(reset + milliseconds(2)), BreakerState::kHalfOpen);
  breaker.RecordSuccess(next, milliseconds(1), reset + milliseconds(2));
  EXPECT_EQ(breaker.State(reset + milliseconds(2)), BreakerState::kClosed);
}

TEST(CircuitBreakerTest, AnAbandonedClosedPermitIsNotCounted) {
  CircuitBreaker breaker("u", Settings());
  const auto permit = breaker.TryAcquire(kT0);
  breaker.RecordAbandoned(permit);
  const auto stats = breaker.Stats(kT0);
  EXPECT_EQ(stats.window_successes + stats.window_failures, 0u);
}

TEST(CircuitBreakerTest, ALostProbeReopensTheBreakerAtItsTimeout) {
  Recorder recorder;
  CircuitBreaker breaker("u", Settings(), recorder.Listener());
  OpenAt(breaker, kT0);
  const auto reset = kT0 + seconds(30);
  const auto probe = breaker.TryAcquire(reset);
  ASSERT_TRUE(probe.probe);
  // Never reported. At exactly `timeout` it could still succeed...
  EXPECT_EQ(breaker.State(reset + seconds(5)), BreakerState::kHalfOpen);
  // ...one millisecond later it is a failure, dated at probe start + timeout.
  const auto later = reset + seconds(5) + milliseconds(1);
  EXPECT_EQ(breaker.State(later), BreakerState::kOpen);
  const auto permit = breaker.TryAcquire(later);
  EXPECT_FALSE(permit.allowed);
  EXPECT_EQ(permit.retry_after, milliseconds(29999));
  EXPECT_EQ(recorder.transitions.back(),
            Transition(BreakerState::kHalfOpen, BreakerState::kOpen));
  // Its late report is ignored.
  breaker.RecordSuccess(probe, milliseconds(10), later);
  EXPECT_EQ(breaker.State(later), BreakerState::kOpen);
  // A full reset_timeout after the re-open, the next probe goes out.
  EXPECT_FALSE(breaker.TryAcquire(reset + seconds(35) - milliseconds(1)).allowed);
  EXPECT_TRUE(breaker.TryAcquire(reset + seconds(35)).probe);
}

TEST(CircuitBreakerTest, StaysHalfOpenWhenTheProbeIsLostAfterALongIdle) {
  // Both timed steps fall due in one look: half-open -> open -> half-open.
  Recorder recorder;
  CircuitBreaker breaker("u", Settings(), recorder.Listener());
  OpenAt(breaker, kT0);
  const auto probe = breaker.TryAcquire(kT0 + seconds(30));
  ASSERT_TRUE(probe.probe);
  const auto much_later = kT0 + seconds(30 + 5 + 30);
  EXPECT_EQ(breaker.State(much_later), BreakerState::kHalfOpen);
  EXPECT_TRUE(breaker.TryAcquire(much_later).probe);
  EXPECT_EQ(recorder.transitions,
            (std::vector<Transition>{{BreakerState::kClosed, BreakerState::kOpen},
                                     {BreakerState::kOpen, BreakerState::kHalfOpen},
                                     {BreakerState::kHalfOpen, BreakerState::kOpen},
                                     {BreakerState::kOpen, BreakerState::kHalfOpen}}));
}

TEST(CircuitBreakerTest, ReportsFromBeforeAStateChangeAreIgnored) {
  CircuitBreaker breaker("u", Settings());
  // Slow calls admitted while closed...
  std::vector<CircuitBreaker::Permit> stale;
  for (int i = 0; i < 20; ++i) stale.push_back(breaker.TryAcquire(kT0));
  OpenAt(breaker, kT0);
  const auto reset = kT0 + seconds(30);
  const auto probe = breaker.TryAcquire(reset);
  // ...succeed while half-open: they say nothing about the upstream now.
  for (const auto& permit : stale) breaker.RecordSuccess(permit, milliseconds(1), reset);
  EXPECT_EQ(breaker.State(reset), BreakerState::kHalfOpen);
  breaker.RecordSuccess(probe, milliseconds(1), reset);
  ASSERT_EQ(breaker.State(reset), BreakerState::kClosed);
  // ...and cannot fill the fresh window with old failures either.
  for (const auto& permit : stale) breaker.RecordFailure(permit, reset);
  EXPECT_EQ(breaker.State(reset), BreakerState::kClosed);
  EXPECT_EQ(breaker.Stats(reset).window_failures, 0u);
}

TEST(CircuitBreakerTest, AReportForARejectedPermitIsIgnored) {
  CircuitBreaker breaker("u", Settings());
  CircuitBreaker::Permit rejected;  // allowed = false
  rejected.generation = breaker.TryAcquire(kT0).generation;
  for (int i = 0; i < 20; ++i) breaker.RecordFailure(rejected, kT0);
  EXPECT_EQ(breaker.State(kT0), BreakerState::kClosed);
  EXPECT_EQ(breaker.Stats(kT0).window_failures, 0u);
}

TEST(CircuitBreakerTest, FailuresAgeOutOfTheRollingWindowBucketByBucket) {
  CircuitBreaker breaker("u", Settings());  // 10s window, 1s buckets
  Fail(breaker, kT0 + milliseconds(500), 9);
  EXPECT_EQ(breaker.Stats(kT0 + milliseconds(9999)).window_failures, 9u);
  // At 10s the bucket [0s,1s) leaves the window.
  EXPECT_EQ(breaker.Stats(kT0 + seconds(10)).window_failures, 0u);
  Fail(breaker, kT0 + seconds(10), 1);
  EXPECT_EQ(breaker.State(kT0 + seconds(10)), BreakerState::kClosed);

  // The same 10 failures within one window do open it.
  CircuitBreaker other("u", Settings());
  Fail(other, kT0 + milliseconds(500), 9);
  Fail(other, kT0 + milliseconds(9999), 1);
  EXPECT_EQ(other.State(kT0 + milliseconds(9999)), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, OldOutcomesInAReusedBucketSlotAreReset) {
  CircuitBreaker breaker("u", Settings());
  Succeed(breaker, kT0 + milliseconds(100), 7);   // bucket 0
  Succeed(breaker, kT0 + seconds(10) + milliseconds(100), 2);  // bucket 10, same slot
  const auto stats = breaker.Stats(kT0 + seconds(10) + milliseconds(100));
  EXPECT_EQ(stats.window_successes, 2u);
}

TEST(CircuitBreakerTest, ListenerMayCallBackIntoTheBreaker) {
  std::vector<BreakerState> seen;
  CircuitBreaker* self = nullptr;
  CircuitBreaker breaker("u", Settings(), [&](BreakerState, BreakerState to) {
    seen.push_back(self->State(kT0));  // would deadlock if called under the lock
    EXPECT_EQ(self->Stats(kT0).state, to);
  });
  self = &breaker;
  OpenAt(breaker, kT0);
  EXPECT_EQ(seen, std::vector<BreakerState>{BreakerState::kOpen});
}

TEST(CircuitBreakerTest, AThrowingListenerDoesNotBreakTheBreaker) {
  int calls = 0;
  CircuitBreaker breaker("u", Settings(), [&](BreakerState, BreakerState) {
    ++calls;
    throw std::runtime_error("log sink down");
  });
  OpenAt(breaker, kT0);
  EXPECT_TRUE(breaker.TryAcquire(kT0 + seconds(30)).probe);
  EXPECT_EQ(calls, 2);
}

TEST(CircuitBreakerTest, ZeroVolumeThresholdOpensOnTheFirstFailure) {
  auto settings = Settings();
  settings.volume_threshold = 0;
  CircuitBreaker breaker("u", settings);
  Fail(breaker, kT0, 1);
  EXPECT_EQ(breaker.State(kT0), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, ConcurrentCallsLoseNoCounts) {
  CircuitBreaker breaker("u", Settings());
  constexpr int kThreads = 8;
  constexpr int kCalls = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        const auto permit = breaker.TryAcquire(kT0);
        breaker.RecordSuccess(permit, milliseconds(1), kT0);
        (void)breaker.State(kT0);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto stats = breaker.Stats(kT0);
  EXPECT_EQ(stats.state, BreakerState::kClosed);
  EXPECT_EQ(stats.window_successes, static_cast<std::uint64_t>(kThreads * kCalls));
  EXPECT_EQ(stats.window_failures, 0u);
}

TEST(CircuitBreakerTest, ConcurrentFailuresOpenItOnceAndOneProbeGoesOut) {
  Recorder recorder;
  CircuitBreaker breaker("u", Settings(), recorder.Listener());
  constexpr int kThreads = 8;
  std::atomic<int> allowed{0};
  std::atomic<int> rejected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        const auto permit = breaker.TryAcquire(kT0);
        if (permit.allowed) {
          ++allowed;
          breaker.RecordFailure(permit, kT0);
        } else {
          ++rejected;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed + rejected, kThreads * 500);
  EXPECT_GE(allowed.load(), 10);
  EXPECT_EQ(breaker.Stats(kT0).times_opened, 1u);
  EXPECT_EQ(breaker.Stats(kT0).short_circuited, static_cast<std::uint64_t>(rejected.load()));

  std::atomic<int> probes{0};
  threads.clear();
  const auto reset = kT0 + seconds(30);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (breaker.TryAcquire(reset).probe) ++probes;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(probes.load(), 1);
  std::lock_guard lock(recorder.mutex);
  EXPECT_EQ(recorder.transitions,
            (std::vector<Transition>{{BreakerState::kClosed, BreakerState::kOpen},
                                     {BreakerState::kOpen, BreakerState::kHalfOpen}}));
}

}  // namespace
}  // namespace nilecare::router
