#include "nilecare/rest/rest_gateway.hpp"

#include <algorithm>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/string.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "nilecare/core/errors.hpp"
#include "nilecare/http/responses.hpp"
#include "nilecare/observability/log.hpp"
#include "nilecare/rest/header_policy.hpp"
#include "nilecare/rest/response_mapper.hpp"
#include "proxy_call.hpp"

namespace nilecare::rest {
namespace log = observability::log;
namespace beast = boost::beast;
using Field = http::beast_http::field;

namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(CallResult::kCount)> kResultNames = {
    "2xx", "3xx", "4xx", "5xx", "timeout", "connect", "network", "saturated", "bad_response",
    "circuit_open"};

std::chrono::milliseconds TimeoutFor(const config::GatewaySettings& settings,
                                     const config::RouteSettings& route,
                                     const config::UpstreamSettings& upstream) {
  std::string klass = route.timeout_class;
  if (klass.empty()) klass = upstream.timeout_class;
  if (klass.empty()) klass = settings.timeouts.default_class;
  const auto it = settings.timeouts.classes.find(klass);
  if (it == settings.timeouts.classes.end()) {
    throw std::runtime_error(fmt::format("route {}: unknown timeout class {}", route.prefix, klass));
  }
  return it->second;
}

std::vector<http::Verb> Verbs(const std::vector<std::string>& names) {
  std::vector<http::Verb> verbs;
  for (const auto& name : names) verbs.push_back(http::beast_http::string_to_verb(name));
  return verbs;
}

http::Response Unauthorized(const http::RequestContext& context, std::string_view message,
                            std::string_view reason) {
  auto response = http::ErrorResponse(context, http::Status::unauthorized,
                                      core::error_code::kUnauthorized, message,
                                      {{"reason", reason}});
  response.set(Field::www_authenticate,
               reason == "missing_token" ? "Bearer realm=\"nilecare\""
                                         : "Bearer realm=\"nilecare\", error=\"invalid_token\"");
  return response;
}

// Steps 2-4 of a routed request, once the caller is known: rate limit, idempotency,
// then the proxied call. `context` and `request` belong to the HTTP session and stay valid
// and untouched until `respond` is called.
void Proceed(const std::shared_ptr<RestGateway::Shared>& shared, const Route* route,
             http::RequestContext& context, http::Request& request,
             const std::optional<Identity>& identity, http::Responder respond) {
  if (identity && !route->settings.roles.empty()) {
    const bool permitted =
        std::any_of(identity->roles.begin(), identity->roles.end(), [&](const std::string& role) {
          return std::find(route->settings.roles.begin(), route->settings.roles.end(), role) !=
                 route->settings.roles.end();
        });
    if (!permitted) {
      shared->CountAuthFailure("forbidden_role");
      return respond(http::ErrorResponse(context, http::Status::forbidden,
                                         core::error_code::kForbidden,
                                         "Your role may not use this route"));
    }
  }

  // 2. How often.
  router::RateLimiter* limiter = identity ? shared->user_limiter.get() : shared->ip_limiter.get();
  if (limiter != nullptr) {
    const auto decision =
        limiter->Acquire(identity ? identity->user_id : context.remote_address);
    if (!decision.allowed) {
      shared->CountRateLimited(identity ? "user" : "ip");
      return respond(http::RetryLaterResponse(context, http::Status::too_many_requests,
                                              core::error_code::kRateLimited,
                                              "Too many requests", decision.retry_after));
    }
  }

  auto upstream_request = BuildUpstreamRequest(
      request, context, identity,
      UpstreamTarget{route->upstream->pool->Settings().base_path, shared->service_name});

  // 3. Idempotency-Key on POST/PATCH.
  const auto key_field = request.find("Idempotency-Key");
  const bool has_key = key_field != request.end();
  const bool unsafe_method =
      request.method() == http::Verb::post || request.method() == http::Verb::patch;
  if (has_key && unsafe_method &&
      (key_field->value().empty() ||
       key_field->value().size() > storage::kMaxIdempotencyKeyLength)) {
    return respond(http::ErrorResponse(context, http::Status::bad_request,
                                       core::error_code::kBadRequest,
                                       "Idempotency-Key must be 1 to 255 characters"));
  }
  if (has_key && unsafe_method && shared->idempotency) {
    const std::string scope = fmt::format(
        "{}\n{}\n{}\n{}", identity ? identity->user_id : "anonymous",
        std::string_view(request.method_string()), std::string_view(request.target()),
        std::string_view(key_field->value()));
    IdempotencyClaim claim{scope, storage::Sha256Hex(request.body())};
    auto context_copy = context;
    shared->idempotency->Begin(
        claim.key, claim.fingerprint,
        [shared, route, context_copy, claim, upstream_request = std::move(upstream_request),
         respond](storage::IdempotencyResult result) mutable {
          switch (result.outcome) {
            case storage::IdempotencyOutcome::kStarted:
              shared->CountIdempotency("started");
              std::make_shared<ProxyCall>(shared, *route, context_copy,
                                          std::move(upstream_request), true, claim,
                                          std::move(respond))
                  ->Start();
              return;
            case storage::IdempotencyOutcome::kInProgress:
              shared->CountIdempotency("in_progress");
              return respond(http::ErrorResponse(
                  context_copy, http::Status::conflict, core::error_code::kIdempotencyInProgress,
                  "A request with this Idempotency-Key is still being processed"));
            case storage::IdempotencyOutcome::kKeyReused:
              shared->CountIdempotency("key_reused");
              return respond(http::ErrorResponse(
                  context_copy, http::Status::unprocessable_entity,
                  core::error_code::kIdempotencyKeyReused,
                  "This Idempotency-Key was used with a different request body"));
            case storage::IdempotencyOutcome::kReplay: {
              shared->CountIdempotency("replayed");
              const auto& stored = *result.stored;
              http::Response replay{static_cast<http::Status>(stored.status), 11};
              for (const auto& [name, value] : stored.headers) {
                if (beast::iequals(name, "x-request-id") ||
                    beast::iequals(name, "x-correlation-id") ||
                    beast::iequals(name, "content-length")) {
                  continue;
                }
                replay.insert(name, value);
              }
              replay.set("Idempotent-Replayed", "true");
              if (stored.body_too_large) {
                // Stored without its body (over idempotency.max_stored_body): the
                // request must still not run twice, so say what happened.
                auto note = stored.status < 400
                                ? http::SuccessResponse(context_copy, static_cast<http::Status>(stored.status),
                                                        "Request already processed; its reply is too large to replay",
                                                        nullptr)
                                : http::ErrorResponse(context_copy, static_cast<http::Status>(stored.status),
                                                      ErrorCodeForStatus(static_cast<unsigned>(stored.status)),
                                                      "Request already processed; its reply is too large to replay");
                replay.set(Field::content_type, note[Field::content_type]);
                replay.body() = std::move(note.body());
              } else {
                replay.body() = stored.body;
              }
              return respond(std::move(replay));
            }
            case storage::IdempotencyOutcome::kUnavailable:
              shared->CountIdempotency("unavailable");
              // Fail closed: without the store a retry could charge a patient twice.
              return respond(http::RetryLaterResponse(
                  context_copy, http::Status::service_unavailable,
                  core::error_code::kIdempotencyUnavailable,
                  "Idempotency store unavailable; retry later", std::chrono::seconds(1)));
          }
        });
    return;
  }
  std::make_shared<ProxyCall>(shared, *route, context, std::move(upstream_request), has_key,
                              std::nullopt, std::move(respond))
      ->Start();
}

}  // namespace

void RestGateway::Shared::CountAuthFailure(std::string_view reason) {
  metrics->GetCounter("nilecare_auth_failures_total", "Requests refused by authentication",
                      {{"reason", std::string(reason)}})
      .Inc();
}

void RestGateway::Shared::CountRateLimited(std::string_view key_type) {
  metrics->GetCounter("nilecare_rate_limited_total", "Requests refused by rate limiting",
                      {{"key", std::string(key_type)}})
      .Inc();
}

void RestGateway::Shared::CountIdempotency(std::string_view outcome) {
  metrics->GetCounter("nilecare_idempotency_total", "Idempotency-Key handling outcomes",
                      {{"outcome", std::string(outcome)}})
      .Inc();
}

RestGateway::RestGateway(boost::asio::io_context& io, const config::GatewaySettings& settings,
                         observability::MetricsRegistry& metrics)
    : shared_(std::make_shared<Shared>(settings.retry)) {
  auto& shared = *shared_;
  shared.io = &io;
  shared.metrics = &metrics;
  shared.service_name = settings.service.name;

  for (const auto& upstream_settings : settings.upstreams) {
    auto upstream = std::make_unique<Upstream>();
    upstream->name = upstream_settings.name;
    upstream->pool = std::make_unique<http::UpstreamPool>(io, upstream_settings, metrics);
    const std::string name = upstream_settings.name;
    auto& transitions = metrics;
    upstream->breaker = std::make_unique<router::CircuitBreaker>(
        name, upstream_settings.circuit_breaker.value_or(settings.circuit_breaker),
        [name, &transitions](router::BreakerState from, router::BreakerState to) {
          transitions
              .GetCounter("nilecare_circuit_breaker_transitions_total",
                          "Circuit breaker state changes",
                          {{"upstream", name}, {"to", std::string(router::ToString(to))}})
              .Inc();
          log::Warn("circuit breaker state changed", {{"upstream", name},
                                                      {"from", router::ToString(from)},
                                                      {"to", router::ToString(to)}});
        });
    upstream->budget = std::make_unique<router::RetryBudget>(settings.retry.budget_percent,
                                                             settings.retry.budget_min);
    const observability::Labels labels{{"upstream", name}};
    for (std::size_t i = 0; i < kResultNames.size(); ++i) {
      upstream->results[i] = &metrics.GetCounter(
          "nilecare_upstream_requests_total", "Upstream attempts by outcome",
          {{"upstream", name}, {"result", std::string(kResultNames[i])}});
    }
    upstream->retries = &metrics.GetCounter("nilecare_upstream_retries_total",
                                            "Retries sent to an upstream", labels);
    upstream->budget_exhausted = &metrics.GetCounter(
        "nilecare_upstream_retry_budget_exhausted_total",
        "Retries not sent because the retry budget was used up", labels);
    upstream->attempt_seconds = &metrics.GetHistogram(
        "nilecare_upstream_attempt_duration_seconds", "Duration of one upstream attempt", labels);
    const router::CircuitBreaker* breaker = upstream->breaker.get();
    metrics.AddCallbackGauge("nilecare_circuit_breaker_state",
                             "Breaker state per upstream: 0 closed, 1 open, 2 half-open", labels,
                             [breaker] {
                               switch (breaker->State()) {
                                 case router::BreakerState::kClosed: return 0.0;
                                 case router::BreakerState::kOpen: return 1.0;
                                 case router::BreakerState::kHalfOpen: return 2.0;
                               }
                               return 0.0;
                             });
    {
      std::string klass = upstream_settings.timeout_class;
      if (klass.empty()) klass = settings.timeouts.default_class;
      const auto it = settings.timeouts.classes.find(klass);
      upstream->default_timeout = it == settings.timeouts.classes.end()
                                      ? std::chrono::seconds(10)
                                      : it->second;
    }
    shared.upstreams.push_back(std::move(upstream));
  }
  shared.services = MakeServiceCaller(shared);

  for (const auto& route_settings : settings.routes) {
    auto route = std::make_unique<Route>();
    route->settings = route_settings;
    const auto found = std::find_if(
        shared.upstreams.begin(), shared.upstreams.end(),
        [&](const auto& upstream) { return upstream->name == route_settings.upstream; });
    if (found == shared.upstreams.end()) {
      throw std::runtime_error(
          fmt::format("route {}: unknown upstream {}", route_settings.prefix, route_settings.upstream));
    }
    route->upstream = found->get();
    const auto upstream_settings = std::find_if(
        settings.upstreams.begin(), settings.upstreams.end(),
        [&](const auto& upstream) { return upstream.name == route_settings.upstream; });
    route->timeout = TimeoutFor(settings, route_settings, *upstream_settings);
    shared.routes.push_back(std::move(route));
  }

  if (settings.auth && settings.auth->jwt) {
    shared.verifier = std::make_unique<auth::JwtVerifier>(*settings.auth->jwt);
  } else if (settings.auth && !settings.auth->validate_url.empty()) {
    shared.remote = std::make_unique<RemoteValidator>(io, *settings.auth, settings.circuit_breaker,
                                                      settings.service.name, metrics);
  }
  for (const auto& route : shared.routes) {
    if (route->settings.auth == config::RouteAuth::kRequired && !shared.verifier &&
        !shared.remote) {
      throw std::runtime_error(
          fmt::format("route {} requires authentication but neither auth.jwt nor "
                      "auth.validate_url is configured",
                      route->settings.prefix));
    }
  }
  if (settings.rate_limit) {
    const auto& limits = *settings.rate_limit;
    shared.user_limiter = std::make_unique<router::RateLimiter>(limits.per_user, limits.per_user_burst,
                                                                limits.max_tracked_keys);
    shared.ip_limiter = std::make_unique<router::RateLimiter>(limits.per_ip, limits.per_ip_burst,
                                                              limits.max_tracked_keys);
  }
  if (settings.redis) {
    shared.redis = std::make_shared<storage::RedisClient>(io, *settings.redis, metrics);
    if (settings.idempotency) {
      // A request's lock must outlive its slowest possible run, or a repeat would run it
      // twice: the longest route deadline plus a margin.
      std::chrono::milliseconds longest{0};
      for (const auto& route : shared.routes) longest = std::max(longest, route->timeout);
      shared.idempotency = std::make_unique<storage::IdempotencyStore>(
          shared.redis, *settings.idempotency, settings.redis->key_prefix,
          longest + std::chrono::seconds(30));
    }
  }
}

RestGateway::~RestGateway() = default;

void RestGateway::RegisterRoutes(http::Dispatcher& dispatcher) {
  for (const auto& route_ptr : shared_->routes) {
    const Route* route = route_ptr.get();
    std::weak_ptr<Shared> weak = shared_;
    dispatcher.AddPrefix(
        route->settings.prefix, Verbs(route->settings.methods), route->settings.prefix,
        [weak, route](http::RequestContext& context, http::Request& request, http::Responder respond) {
          auto shared = weak.lock();
          if (!shared) {
            return respond(http::RetryLaterResponse(context, http::Status::service_unavailable,
                                                    core::error_code::kShuttingDown,
                                                    "Gateway is shutting down",
                                                    std::chrono::seconds(1)));
          }
          // 1. Who is calling.
          if (route->settings.auth != config::RouteAuth::kRequired) {
            return Proceed(shared, route, context, request, std::nullopt, std::move(respond));
          }
          const auto token = http::BearerToken(request);
          if (!token) {
            shared->CountAuthFailure("missing_token");
            return respond(Unauthorized(context, "Authentication required", "missing_token"));
          }
          if (shared->verifier) {
            auto verified = shared->verifier->Verify(*token);
            if (auto* error = std::get_if<auth::JwtError>(&verified)) {
              shared->CountAuthFailure(auth::ToString(*error));
              return respond(Unauthorized(context, auth::Describe(*error), auth::ToString(*error)));
            }
            auto& claims = std::get<auth::Claims>(verified);
            return Proceed(shared, route, context, request,
                           Identity{std::move(claims.subject), std::move(claims.role),
                                    std::move(claims.roles)},
                           std::move(respond));
          }
          shared->remote->Validate(
              *token, context.request_id,
              [shared, route, &context, &request, respond](Validation validation) mutable {
                switch (validation.kind) {
                  case Validation::Kind::kValid:
                    return Proceed(shared, route, context, request, std::move(validation.identity),
                                   std::move(respond));
                  case Validation::Kind::kInvalid:
                    shared->CountAuthFailure(validation.reason);
                    return respond(Unauthorized(context, "Invalid token", validation.reason));
                  case Validation::Kind::kUnavailable:
                    shared->CountAuthFailure(validation.reason);
                    // Fail closed: without the auth service nobody is authenticated.
                    return respond(http::RetryLaterResponse(
                        context, http::Status::service_unavailable,
                        core::error_code::kAuthUnavailable,
                        "Authentication service unavailable; retry later",
                        std::chrono::seconds(1)));
                }
              });
        });
  }
}

router::ServiceCaller& RestGateway::Services() { return *shared_->services; }

void RestGateway::Start() {
  if (shared_->redis) shared_->redis->Start();
}

bool RestGateway::Idle() const { return shared_->in_flight.load() == 0; }

void RestGateway::Stop() {
  for (auto& upstream : shared_->upstreams) upstream->pool->Shutdown();
  if (shared_->remote) shared_->remote->Shutdown();
  if (shared_->redis) shared_->redis->Stop();
}

core::ComponentHealth RestGateway::Health() const {
  std::vector<std::string> open;
  for (const auto& upstream : shared_->upstreams) {
    if (upstream->breaker->State() != router::BreakerState::kClosed) open.push_back(upstream->name);
  }
  if (shared_->remote && shared_->remote->Breaker().State() != router::BreakerState::kClosed) {
    open.push_back("auth-validate");
  }
  if (shared_->redis && shared_->idempotency && !shared_->redis->Connected()) {
    // Idempotent POSTs fail closed without Redis: not ready.
    auto redis = shared_->redis->Health();
    return {redis.state == core::HealthState::kUp ? core::HealthState::kDown : redis.state,
            "redis: " + redis.detail};
  }
  if (!open.empty()) {
    return {core::HealthState::kDegraded, fmt::format("circuit open: {}", fmt::join(open, ", "))};
  }
  return {core::HealthState::kUp, fmt::format("{} routes, {} upstreams", shared_->routes.size(),
                                             shared_->upstreams.size())};
}

}  // namespace nilecare::rest
