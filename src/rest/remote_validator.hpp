#pragma once
// Remote token validation through the auth service (spec §1: POST
// /api/v1/auth/validate {token} -> {success, data: {user: {id, role}}}), for deployments
// where the gateway holds no JWT key. Valid answers are cached (bounded, LRU, never past
// the token's own exp); the call has its own deadline and circuit breaker, and any doubt
// fails closed.
//
// YAML: auth: { validate_url, validate_cache_ttl: 30s, validate_cache_size: 10000,
//               validate_timeout: 5s } — with the global circuit_breaker settings.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/ttl_cache.hpp"
#include "nilecare/http/upstream_pool.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/rest/header_policy.hpp"
#include "nilecare/router/circuit_breaker.hpp"

namespace nilecare::rest {

struct Validation {
  enum class Kind { kValid, kInvalid, kUnavailable };
  Kind kind{Kind::kUnavailable};
  Identity identity{};
  std::string reason{};  // for kInvalid / kUnavailable: a metric-safe word
};

class RemoteValidator {
 public:
  RemoteValidator(boost::asio::io_context& io, const config::AuthSettings& auth,
                  const config::CircuitBreakerSettings& breaker, std::string service_name,
                  observability::MetricsRegistry& metrics);

  // `done` runs exactly once, on an io thread (inline when the answer is cached).
  void Validate(std::string_view token, const std::string& request_id,
                std::function<void(Validation)> done);
  void Shutdown();

  router::CircuitBreaker& Breaker() { return breaker_; }

 private:
  config::AuthSettings settings_;
  std::string service_name_;
  http::UpstreamPool pool_;
  router::CircuitBreaker breaker_;
  core::TtlCache<Identity> cache_;
  observability::Counter& cache_hits_;
  observability::Counter& calls_;
};

}  // namespace nilecare::rest
