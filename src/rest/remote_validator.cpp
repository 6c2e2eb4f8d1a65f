#include "remote_validator.hpp"

#include <nlohmann/json.hpp>

#include "nilecare/auth/jwt_verifier.hpp"
#include "nilecare/observability/log.hpp"
#include "nilecare/storage/idempotency_store.hpp"

namespace nilecare::rest {
namespace log = observability::log;
using Clock = std::chrono::steady_clock;

namespace {

// The `exp` of a JWT-shaped token, read without verifying it: only used to stop caching
// an answer past the token's own lifetime (the auth service did the verifying).
std::optional<std::chrono::system_clock::time_point> UnverifiedExpiry(std::string_view token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos) return std::nullopt;
  const auto decoded = auth::Base64UrlDecode(token.substr(first + 1, second - first - 1));
  if (!decoded) return std::nullopt;
  const auto claims = nlohmann::json::parse(*decoded, nullptr, false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number()) {
    return std::nullopt;
  }
  return std::chrono::system_clock::time_point(
      std::chrono::seconds(claims["exp"].get<long long>()));
}

std::optional<Identity> IdentityFrom(const nlohmann::json& body) {
  if (!body.is_object() || !body.value("success", false)) return std::nullopt;
  const auto data = body.find("data");
  if (data == body.end() || !data->is_object()) return std::nullopt;
  const auto user = data->find("user");
  if (user == data->end() || !user->is_object()) return std::nullopt;
  Identity identity;
  for (const char* key : {"id", "user_id", "sub"}) {
    const auto it = user->find(key);
    if (it == user->end()) continue;
    if (it->is_string()) identity.user_id = it->get<std::string>();
    if (it->is_number_integer()) identity.user_id = std::to_string(it->get<long long>());
    if (!identity.user_id.empty()) break;
  }
  if (identity.user_id.empty()) return std::nullopt;
  if (const auto role = user->find("role"); role != user->end() && role->is_string()) {
    identity.role = role->get<std::string>();
    identity.roles.push_back(identity.role);
  }
  if (const auto roles = user->find("roles"); roles != user->end() && roles->is_array()) {
    for (const auto& role : *roles) {
      if (role.is_string()) identity.roles.push_back(role.get<std::string>());
    }
    if (identity.role.empty() && !identity.roles.empty()) identity.role = identity.roles.front();
  }
  // The values become X-User-ID / X-User-Role headers.
  for (const std::string* value : {&identity.user_id, &identity.role}) {
    for (char c : *value) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
    }
  }
  return identity;
}

}  // namespace

RemoteValidator::RemoteValidator(boost::asio::io_context& io, const config::AuthSettings& auth,
                                 const config::CircuitBreakerSettings& breaker,
                                 std::string service_name, observability::MetricsRegistry& metrics)
    : settings_(auth),
      service_name_(std::move(service_name)),
      pool_(io,
            http::ServiceEndpointSettings("auth-validate", auth.validate_url, auth.validate_host,
                                          auth.validate_port, auth.validate_timeout),
            metrics),
      breaker_("auth-validate", breaker,
               [](router::BreakerState from, router::BreakerState to) {
                 log::Warn("circuit breaker state changed", {{"upstream", "auth-validate"},
                                                             {"from", router::ToString(from)},
                                                             {"to", router::ToString(to)}});
               }),
      cache_(auth.validate_cache_size),
      cache_hits_(metrics.GetCounter("nilecare_auth_validate_cache_hits_total",
                                     "Remote token validations answered from the cache")),
      calls_(metrics.GetCounter("nilecare_auth_validate_calls_total",
                                "Remote token validations sent to the auth service")) {}

void RemoteValidator::Validate(std::string_view token, const std::string& request_id,
                               std::function<void(Validation)> done) {
  // Hashed: the cache never holds bearer tokens themselves.
  std::string key = storage::Sha256Hex(token);
  if (auto cached = cache_.Get(key)) {
    cache_hits_.Inc();
    return done(Validation{Validation::Kind::kValid, std::move(*cached), {}});
  }
  const auto permit = breaker_.TryAcquire();
  if (!permit.allowed) {
    return done(Validation{Validation::Kind::kUnavailable, {}, "circuit_open"});
  }
  calls_.Inc();
  auto request = std::make_shared<http::Request>(http::Verb::post, settings_.validate_path, 11);
  request->set(http::beast_http::field::content_type, "application/json");
  request->set("X-Service-Name", service_name_);
  request->set("X-Request-ID", request_id);
  request->body() = nlohmann::json{{"token", token}}.dump();
  auto expiry = UnverifiedExpiry(token);
  const auto started = Clock::now();
  pool_.Send(
      std::move(request), started + settings_.validate_timeout,
      [this, permit, started, key = std::move(key), expiry,
       done = std::move(done)](http::UpstreamResult result) {
        const auto now = Clock::now();
        if (result.error != http::UpstreamError::kNone) {
          breaker_.RecordFailure(permit, now);
          log::Warn("token validation call failed",
                    {{"error", http::ToString(result.error)}, {"detail", result.detail}});
          return done(Validation{Validation::Kind::kUnavailable, {}, "auth_service_unreachable"});
        }
        const unsigned status = result.response.result_int();
        if (status >= 500 || status == 429) {
          breaker_.RecordFailure(permit, now);
          return done(Validation{Validation::Kind::kUnavailable, {}, "auth_service_error"});
        }
        breaker_.RecordSuccess(
            permit, std::chrono::duration_cast<std::chrono::milliseconds>(now - started), now);
        if (status != 200) {
          return done(Validation{Validation::Kind::kInvalid, {}, "rejected_by_auth_service"});
        }
        auto identity =
            IdentityFrom(nlohmann::json::parse(result.response.body(), nullptr, false));
        if (!identity) {
          return done(Validation{Validation::Kind::kInvalid, {}, "rejected_by_auth_service"});
        }
        auto expires = now + settings_.validate_cache_ttl;
        if (expiry) {
          const auto left = *expiry - std::chrono::system_clock::now();
          expires = std::min(expires, now + std::chrono::duration_cast<Clock::duration>(left));
        }
        if (expires > now) cache_.Put(key, *identity, expires);
        done(Validation{Validation::Kind::kValid, std::move(*identity), {}});
      });
}

void RemoteValidator::Shutdown() { pool_.Shutdown(); }

}  // namespace nilecare::rest
