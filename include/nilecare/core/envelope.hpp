#pragma once
// The NileCareResponse envelope (spec §1 "Response Format"): every JSON reply of the
// gateway is one of these, success or error.
//
//   { status, success, message, data | error{code, details, retry_after?},
//     timestamp (ISO 8601 UTC), request_id }
//
// retry_after is in milliseconds, as in the spec's example; the HTTP Retry-After header
// that goes with it is in whole seconds (RFC 9110).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace nilecare::core {

struct ErrorInfo {
  std::string code;
  nlohmann::json details{};  // null is left out of the reply
  std::optional<std::chrono::milliseconds> retry_after{};
};

nlohmann::json SuccessEnvelope(int status, std::string_view message, nlohmann::json data,
                               std::string_view request_id);
nlohmann::json ErrorEnvelope(int status, std::string_view message, const ErrorInfo& error,
                             std::string_view request_id);

// True when `body` already has the envelope's shape (status, success, timestamp and one of
// data/error), so a proxy can pass it through instead of wrapping it twice.
bool IsEnvelope(const nlohmann::json& body);

// The reason phrase used as `message` when a caller has nothing more specific to say.
std::string_view DefaultMessage(int status);

}  // namespace nilecare::core
