#include "rest_shared.hpp"

namespace nilecare::rest {
namespace {

CallResult ResultFor(http::UpstreamError error) {
  switch (error) {
    case http::UpstreamError::kTimeout: return CallResult::kTimeout;
    case http::UpstreamError::kConnect: return CallResult::kConnect;
    case http::UpstreamError::kSaturated: return CallResult::kSaturated;
    case http::UpstreamError::kBadResponse: return CallResult::kBadResponse;
    default: return CallResult::kNetwork;
  }
}

CallResult ResultFor(unsigned status) {
  if (status < 300) return CallResult::k2xx;
  if (status < 400) return CallResult::k3xx;
  if (status < 500) return CallResult::k4xx;
  return CallResult::k5xx;
}

bool CountsAsBreakerFailure(unsigned status) { return status >= 500 || status == 429; }

}  // namespace

void CountCall(Upstream& upstream, CallResult result) {
  upstream.results[static_cast<std::size_t>(result)]->Inc();
}

CallResult RecordAttempt(Upstream& upstream, const router::CircuitBreaker::Permit& permit,
                         std::chrono::steady_clock::time_point started,
                         const http::UpstreamResult& result) {
  const auto now = std::chrono::steady_clock::now();
  upstream.attempt_seconds->Observe(std::chrono::duration<double>(now - started).count());
  CallResult outcome;
  if (result.error != http::UpstreamError::kNone) {
    if (result.error == http::UpstreamError::kSaturated ||
        result.error == http::UpstreamError::kShutdown) {
      upstream.breaker->RecordAbandoned(permit);
    } else {
      upstream.breaker->RecordFailure(permit, now);
    }
    outcome = ResultFor(result.error);
  } else {
    const unsigned status = result.response.result_int();
    if (CountsAsBreakerFailure(status)) {
      upstream.breaker->RecordFailure(permit, now);
    } else {
      upstream.breaker->RecordSuccess(
          permit, std::chrono::duration_cast<std::chrono::milliseconds>(now - started), now);
    }
    outcome = ResultFor(status);
  }
  CountCall(upstream, outcome);
  return outcome;
}

}  // namespace nilecare::rest
