#pragma once
// Which failed upstream calls may be tried again, and how long to wait first. Configured by
//   retry: { retries: 3, base_delay: 100ms, max_delay: 2s, on_status: [429, 503] }
// (budget_percent and budget_min of the same section configure RetryBudget). The route's
// timeout class bounds the whole call, retries included: the caller gives up when the next
// Backoff() does not fit in what is left of that deadline, Retry-After included.

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "nilecare/config/settings.hpp"

namespace nilecare::router {

class RetryPolicy {
 public:
  explicit RetryPolicy(const config::RetrySettings& settings);

  // May a call that failed this way be tried again? attempts_made counts attempts so far
  // (1 after the first); `retries` retries means at most retries + 1 attempts, and
  // attempts_made < 1 is a caller bug answered with false.
  // status nullopt = network error (connect refused/reset, or no reply).
  // Methods compare case-sensitively (RFC 9110 §9.1): "get" is not GET. Idempotent methods
  // (GET HEAD OPTIONS PUT DELETE TRACE) may repeat; POST/PATCH only with an Idempotency-Key,
  // because a reset connection or a 503 does not prove the upstream did nothing (a payment
  // may have gone through); every other method never. Statuses: only those in on_status.
  bool ShouldRetry(std::string_view method, bool has_idempotency_key, int attempts_made,
                   std::optional<int> status) const;

  // Delay before the next attempt: "full jitter" exponential back-off, uniform in
  // [0, min(max_delay, base_delay * 2^(attempts_made-1))] (both ends included), so a fleet
  // of retrying callers spreads out instead of hammering in lockstep. Never less than
  // retry_after when the upstream sent one, even above max_delay: the upstream asked for it
  // and an earlier retry would be refused again. random01 returns a value in [0,1); an
  // empty function means ThreadLocalRandom01.
  std::chrono::milliseconds Backoff(int attempts_made,
                                    std::optional<std::chrono::milliseconds> retry_after,
                                    const std::function<double()>& random01) const;

  int MaxRetries() const;

 private:
  int retries_;
  std::chrono::milliseconds base_delay_;
  std::chrono::milliseconds max_delay_;
  std::vector<int> on_status_;
};

// Uniform in [0,1) from a per-thread generator, so the hot path takes no lock.
double ThreadLocalRandom01();

// Retry-After: delta-seconds or an HTTP-date (RFC 9110 IMF-fixdate only, e.g.
// "Sun, 06 Nov 1994 08:49:37 GMT"; the obsolete RFC 850 and asctime forms are not sent by
// any current server). nullopt when unparseable or negative, a date already past included.
// A date is rounded up to whole milliseconds; delta-seconds beyond 2^31 are clamped to 2^31
// as RFC 9111 §1.2.2 asks.
std::optional<std::chrono::milliseconds> ParseRetryAfter(
    std::string_view value,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace nilecare::router
