#include "proxy_call.hpp"

#include <random>

#include <nlohmann/json.hpp>

#include "nilecare/core/errors.hpp"
#include "nilecare/http/responses.hpp"
#include "nilecare/observability/log.hpp"
#include "nilecare/rest/response_mapper.hpp"

namespace nilecare::rest {
namespace log = observability::log;

namespace {

double Random01() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

ProxyCall::ProxyCall(std::shared_ptr<RestGateway::Shared> shared, const Route& route,
                     http::RequestContext context, http::Request upstream_request,
                     bool has_idempotency_key, std::optional<IdempotencyClaim> claim,
                     http::Responder respond)
    : shared_(std::move(shared)),
      upstream_(*route.upstream),
      context_(std::move(context)),
      request_(std::make_shared<http::Request>(std::move(upstream_request))),
      has_idempotency_key_(has_idempotency_key),
      claim_(std::move(claim)),
      respond_(std::move(respond)),
      deadline_(std::chrono::steady_clock::now() + route.timeout),
      backoff_timer_(*shared_->io) {
  ++shared_->in_flight;
  upstream_.budget->CallStarted();
}

ProxyCall::~ProxyCall() {
  upstream_.budget->CallFinished();
  --shared_->in_flight;
}

void ProxyCall::Start() { Attempt(); }

void ProxyCall::Attempt() {
  const auto permit = upstream_.breaker->TryAcquire();
  if (!permit.allowed) {
    if (retrying_) upstream_.budget->RetryFinished();
    retrying_ = false;
    CountCall(upstream_, CallResult::kCircuitOpen);
    Finish(http::RetryLaterResponse(context_, http::Status::service_unavailable, core::error_code::kCircuitOpen,
                                    "Upstream service is unavailable (circuit open)",
                                    permit.retry_after, {{"upstream", upstream_.name}}));
    return;
  }
  ++attempts_;
  const auto started = std::chrono::steady_clock::now();
  upstream_.pool->Send(request_, deadline_,
                       [self = shared_from_this(), permit, started](http::UpstreamResult result) {
                         self->OnResult(permit, started, std::move(result));
                       });
}

void ProxyCall::OnResult(const router::CircuitBreaker::Permit& permit,
                         std::chrono::steady_clock::time_point started,
                         http::UpstreamResult result) {
  if (retrying_) {
    upstream_.budget->RetryFinished();
    retrying_ = false;
  }
  RecordAttempt(upstream_, permit, started, result);

  if (result.error != http::UpstreamError::kNone) {
    log::Warn("upstream attempt failed", {{"request_id", context_.request_id},
                                          {"upstream", upstream_.name},
                                          {"attempt", attempts_},
                                          {"error", http::ToString(result.error)},
                                          {"detail", result.detail}});
    // A timeout used up the call's deadline; a local refusal will not improve by retrying.
    // A failed connect never reached the upstream application, so it is safe to repeat
    // whatever the method; for other network errors the method decides.
    const bool retryable = result.error == http::UpstreamError::kConnect ||
                           result.error == http::UpstreamError::kNetwork ||
                           result.error == http::UpstreamError::kBadResponse;
    const bool safe_to_repeat = result.not_sent && result.error == http::UpstreamError::kConnect;
    if (retryable && MaybeRetry(std::nullopt, std::nullopt, safe_to_repeat)) return;
    return Fail(result.error, result.detail);
  }

  const unsigned status = result.response.result_int();
  std::optional<std::chrono::milliseconds> retry_after;
  if (auto it = result.response.find(http::beast_http::field::retry_after);
      it != result.response.end()) {
    retry_after = router::ParseRetryAfter(it->value());
  }
  if (MaybeRetry(static_cast<int>(status), retry_after, false)) return;
  Finish(MapUpstreamResponse(std::move(result.response), context_));
}

bool ProxyCall::MaybeRetry(std::optional<int> status,
                           std::optional<std::chrono::milliseconds> retry_after,
                           bool safe_to_repeat) {
  const bool allowed =
      safe_to_repeat ? attempts_ <= shared_->retry_policy.MaxRetries()
                     : shared_->retry_policy.ShouldRetry(request_->method_string(),
                                                         has_idempotency_key_, attempts_, status);
  if (!allowed) return false;
  const auto delay = shared_->retry_policy.Backoff(attempts_, retry_after, Random01);
  // The deadline covers the whole call: a retry that cannot finish in time is pointless.
  if (std::chrono::steady_clock::now() + delay >= deadline_) return false;
  if (!upstream_.budget->TryStartRetry()) {
    upstream_.budget_exhausted->Inc();
    return false;
  }
  retrying_ = true;
  upstream_.retries->Inc();
  backoff_timer_.expires_after(delay);
  backoff_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) {
      self->upstream_.budget->RetryFinished();
      self->retrying_ = false;
      return self->Fail(http::UpstreamError::kShutdown, "cancelled");
    }
    self->Attempt();
  });
  return true;
}

void ProxyCall::Fail(http::UpstreamError error, const std::string& detail) {
  (void)detail;  // logged per attempt; never sent to clients (internal addresses)
  switch (error) {
    case http::UpstreamError::kTimeout:
      return Finish(http::ErrorResponse(context_, http::Status::gateway_timeout, core::error_code::kUpstreamTimeout,
                                        "Upstream service did not answer in time",
                                        {{"upstream", upstream_.name}}));
    case http::UpstreamError::kSaturated:
      return Finish(http::RetryLaterResponse(context_, http::Status::service_unavailable,
                                             core::error_code::kUpstreamSaturated,
                                             "Too many requests waiting for this service",
                                             std::chrono::seconds(1), {{"upstream", upstream_.name}}));
    case http::UpstreamError::kShutdown:
      return Finish(http::RetryLaterResponse(context_, http::Status::service_unavailable,
                                             core::error_code::kShuttingDown,
                                             "Gateway is shutting down", std::chrono::seconds(1)));
    case http::UpstreamError::kBadResponse:
      return Finish(http::ErrorResponse(context_, http::Status::bad_gateway, core::error_code::kUpstreamBadResponse,
                                        "Upstream service sent an invalid reply",
                                        {{"upstream", upstream_.name}}));
    default:
      return Finish(http::ErrorResponse(context_, http::Status::bad_gateway, core::error_code::kUpstreamUnavailable,
                                        "Upstream service is unreachable",
                                        {{"upstream", upstream_.name}}));
  }
}

void ProxyCall::Finish(http::Response response) {
  if (claim_ && shared_->idempotency) {
    const unsigned status = response.result_int();
    // Failures the client may retry are not stored: the key is released instead.
    if (status >= 500) {
      shared_->idempotency->Abandon(claim_->key, claim_->fingerprint);
    } else {
      storage::StoredResponse stored;
      stored.status = static_cast<int>(status);
      for (const auto& field : response) {
        stored.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      stored.body = response.body();
      shared_->idempotency->Complete(claim_->key, claim_->fingerprint, stored);
    }
  }
  respond_(std::move(response));
}

}  // namespace nilecare::rest
