#pragma once
// Retry budget: caps retries in flight so an outage is never multiplied. Configured by
//   retry: { budget_percent: 20, budget_min: 3 }
// When every upstream call fails, each caller wants to retry 3 times; without a budget the
// upstream that is already down receives 4x its normal load exactly when it is weakest.
//
// Lock-free: a few atomic counters, shared by every request of the gateway (or of one
// upstream, as the caller chooses).
//
// Usage: CallStarted once per client request that may be retried (not per attempt) and
// CallFinished when it is over; TryStartRetry before waiting out the back-off of a retry
// and RetryFinished when that attempt is over, so a retry counts from the decision to its
// end. ActiveCall and RetrySlot below do the pairing; both are move-only so they can travel
// through async completion handlers.

#include <atomic>
#include <cstdint>

namespace nilecare::router {

class RetryBudget {
 public:
  // Retries in flight <= max(minimum, percent% of active calls). Negative values count as 0.
  RetryBudget(int percent, int minimum);

  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;

  void CallStarted();
  void CallFinished();
  bool TryStartRetry();  // false = over budget (counted in Rejected)
  void RetryFinished();

  // The cap at this moment (for metrics and for logging a rejection).
  std::int64_t Limit() const;
  std::uint64_t Rejected() const;
  std::int64_t ActiveCalls() const;
  std::int64_t ActiveRetries() const;

 private:
  const std::int64_t percent_;
  const std::int64_t minimum_;
  std::atomic<std::int64_t> active_calls_{0};
  std::atomic<std::int64_t> active_retries_{0};
  std::atomic<std::uint64_t> rejected_{0};
};

// One active call for as long as it lives.
class ActiveCall {
 public:
  explicit ActiveCall(RetryBudget& budget);
  ActiveCall(ActiveCall&& other) noexcept;
  ActiveCall& operator=(ActiveCall&& other) noexcept;
  ActiveCall(const ActiveCall&) = delete;
  ActiveCall& operator=(const ActiveCall&) = delete;
  ~ActiveCall();

  void Release();  // finish early; the destructor then does nothing

 private:
  RetryBudget* budget_;
};

// One retry in flight, or nothing when the budget said no.
class RetrySlot {
 public:
  RetrySlot() = default;  // holds nothing
  static RetrySlot TryAcquire(RetryBudget& budget);
  RetrySlot(RetrySlot&& other) noexcept;
  RetrySlot& operator=(RetrySlot&& other) noexcept;
  RetrySlot(const RetrySlot&) = delete;
  RetrySlot& operator=(const RetrySlot&) = delete;
  ~RetrySlot();

  bool Held() const { return budget_ != nullptr; }
  explicit operator bool() const { return Held(); }
  void Release();

 private:
  explicit RetrySlot(RetryBudget* budget) : budget_(budget) {}
  RetryBudget* budget_{nullptr};
};

}  // namespace nilecare::router
