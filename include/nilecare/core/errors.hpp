#pragma once
// Stable error codes of the NileCareResponse envelope. Clients branch on these strings,
// so they never change once shipped; the README's "Error codes" table lists them.

#include <string_view>

namespace nilecare::core::error_code {

inline constexpr std::string_view kBadRequest = "BAD_REQUEST";                  // 400
inline constexpr std::string_view kUnauthorized = "UNAUTHORIZED";               // 401
inline constexpr std::string_view kForbidden = "FORBIDDEN";                     // 403
inline constexpr std::string_view kNotFound = "NOT_FOUND";                      // 404
inline constexpr std::string_view kMethodNotAllowed = "METHOD_NOT_ALLOWED";     // 405
inline constexpr std::string_view kRequestTimeout = "REQUEST_TIMEOUT";          // 408
inline constexpr std::string_view kPayloadTooLarge = "PAYLOAD_TOO_LARGE";       // 413
inline constexpr std::string_view kHeadersTooLarge = "HEADERS_TOO_LARGE";       // 431
inline constexpr std::string_view kExpectationFailed = "EXPECTATION_FAILED";    // 417
inline constexpr std::string_view kRateLimited = "RATE_LIMITED";               // 429
inline constexpr std::string_view kConflict = "CONFLICT";                       // 409 (upstream)
inline constexpr std::string_view kUnprocessableEntity = "UNPROCESSABLE_ENTITY";  // 422 (upstream)
inline constexpr std::string_view kUpstreamRejected = "UPSTREAM_REJECTED";      // other 4xx (upstream)
inline constexpr std::string_view kInternalError = "INTERNAL_ERROR";            // 500
inline constexpr std::string_view kUpstreamError = "UPSTREAM_ERROR";            // upstream 5xx
inline constexpr std::string_view kUpstreamUnavailable = "UPSTREAM_UNAVAILABLE";  // 502
inline constexpr std::string_view kUpstreamBadResponse = "UPSTREAM_BAD_RESPONSE";  // 502
inline constexpr std::string_view kCircuitOpen = "CIRCUIT_OPEN";                // 503
inline constexpr std::string_view kAuthUnavailable = "AUTH_UNAVAILABLE";        // 503
inline constexpr std::string_view kUpstreamSaturated = "UPSTREAM_SATURATED";    // 503
inline constexpr std::string_view kUpstreamTimeout = "UPSTREAM_TIMEOUT";        // 504
inline constexpr std::string_view kIdempotencyInProgress = "IDEMPOTENCY_IN_PROGRESS";  // 409
inline constexpr std::string_view kIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED";    // 422
inline constexpr std::string_view kIdempotencyUnavailable = "IDEMPOTENCY_UNAVAILABLE";  // 503
inline constexpr std::string_view kNotReady = "NOT_READY";                      // 503
inline constexpr std::string_view kShuttingDown = "SHUTTING_DOWN";              // 503
inline constexpr std::string_view kValidationError = "VALIDATION_ERROR";        // 400 (body/query)
inline constexpr std::string_view kDatabaseUnavailable = "DATABASE_UNAVAILABLE";  // 503
inline constexpr std::string_view kDatabaseBusy = "DATABASE_BUSY";              // 503 (queue full)
inline constexpr std::string_view kBrokerUnavailable = "BROKER_UNAVAILABLE";    // 503

}  // namespace nilecare::core::error_code
