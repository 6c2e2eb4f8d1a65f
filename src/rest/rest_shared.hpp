#pragma once
// State shared by the REST adapter and its in-flight calls (private to src/rest).

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "nilecare/auth/jwt_verifier.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/http/upstream_pool.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/rest/rest_gateway.hpp"
#include "nilecare/router/circuit_breaker.hpp"
#include "nilecare/router/rate_limiter.hpp"
#include "nilecare/router/retry_budget.hpp"
#include "nilecare/router/retry_policy.hpp"
#include "nilecare/router/service_caller.hpp"
#include "nilecare/storage/idempotency_store.hpp"
#include "nilecare/storage/redis_client.hpp"
#include "remote_validator.hpp"

namespace nilecare::rest {

// What happened to one call, for nilecare_upstream_requests_total{result}.
enum class CallResult {
  k2xx, k3xx, k4xx, k5xx, kTimeout, kConnect, kNetwork, kSaturated, kBadResponse,
  kCircuitOpen, kCount
};

struct Upstream {
  std::string name;
  std::unique_ptr<http::UpstreamPool> pool;
  std::unique_ptr<router::CircuitBreaker> breaker;
  std::unique_ptr<router::RetryBudget> budget;
  std::array<observability::Counter*, static_cast<std::size_t>(CallResult::kCount)> results{};
  observability::Counter* retries{nullptr};
  observability::Counter* budget_exhausted{nullptr};
  observability::Histogram* attempt_seconds{nullptr};
  // The upstream's timeout class (or timeouts.default_class): calls made for events.
  std::chrono::milliseconds default_timeout{};
};

void CountCall(Upstream& upstream, CallResult result);

// One attempt's outcome into the upstream's breaker and metrics: a local refusal (pool
// saturated, shutting down) says nothing about the upstream's health; network errors,
// timeouts, 5xx and 429 count as failures (opossum's view of what axios throws).
CallResult RecordAttempt(Upstream& upstream, const router::CircuitBreaker::Permit& permit,
                         std::chrono::steady_clock::time_point started,
                         const http::UpstreamResult& result);

struct Route {
  config::RouteSettings settings;
  Upstream* upstream{nullptr};
  std::chrono::milliseconds timeout{};
};

struct RestGateway::Shared {
  boost::asio::io_context* io{nullptr};
  std::string service_name;
  router::RetryPolicy retry_policy;
  std::vector<std::unique_ptr<Upstream>> upstreams;
  std::vector<std::unique_ptr<Route>> routes;
  std::unique_ptr<auth::JwtVerifier> verifier;   // local verification, or
  std::unique_ptr<RemoteValidator> remote;        // validation by the auth service
  std::unique_ptr<router::RateLimiter> user_limiter;
  std::unique_ptr<router::RateLimiter> ip_limiter;
  std::shared_ptr<storage::RedisClient> redis;
  std::unique_ptr<storage::IdempotencyStore> idempotency;
  std::atomic<std::int64_t> in_flight{0};
  std::unique_ptr<router::ServiceCaller> services;
  observability::MetricsRegistry* metrics{nullptr};

  explicit Shared(const config::RetrySettings& retry) : retry_policy(retry) {}
  void CountAuthFailure(std::string_view reason);
  void CountRateLimited(std::string_view key_type);
  void CountIdempotency(std::string_view outcome);
};

// The ServiceCaller over `shared`'s upstreams (src/rest/service_caller.cpp).
std::unique_ptr<router::ServiceCaller> MakeServiceCaller(RestGateway::Shared& shared);

}  // namespace nilecare::rest
